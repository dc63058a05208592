/*
 * job.c - jobs: the feeder that pulls tasks from the caller's iterator and
 * packs them into batches, the reorder window that hands results out in
 * order, and automatic batch sizing.
 *
 * The window is a ring of W slots; task i lives in slot i mod W from the
 * moment it is pulled until its result is handed out.  A task is pulled
 * only when its slot is free, so at most W tasks are in flight and memory
 * is bounded by W, never by the size of the input.  A slow first task
 * therefore pauses the feeder instead of growing a buffer.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "handle.h"
#include "pool.h"
#include "sig.h"
#include "val.h"

/* Batches a worker may hold at once: one running, one queued behind it,
 * so a worker never waits on a round trip, and a slow task delays at most
 * one batch that another worker could have taken. */
#define WORKER_DEPTH 2
/* Aim for batches of about this much work: long enough that per-batch
 * costs (two system calls and a wake-up, ~20-50 us) are a few percent,
 * short enough that two workers stay balanced. */
#define BATCH_TARGET_NS 1000000.0
/* A link's agent spreads a batch over its own workers, and pays for each
 * batch it is sent (a job of its own): give it ten times as much. */
#define LINK_BATCH_TARGET_NS 10000000.0
#define BATCH_MAX 4096u
/* A link's batches may be larger: each costs a wake-up at every hop (two
 * bridges, the agent, a worker), and of tiny tasks 8,192 ran 10% faster
 * over MPI than 4,096 (16,384 gained nothing: the default window holds
 * only four such batches). */
#define LINK_BATCH_MAX 8192u
/* A batch is also closed at this many bytes of arguments, so large
 * arguments travel a few at a time and no frame nears the 1 GiB limit. */
#define BATCH_BYTES (4u << 20)
/* The arguments of one task may take at most this much. */
#define TASK_ARGS_MAX (DLP_FRAME_MAX - BATCH_BYTES - 64)
#define WINDOW_DEFAULT 65536u
/* A str result this large reuses the buffer of one handed out before;
 * the job keeps up to SPARES such buffers, SPARE_BYTES in all: about what
 * the results of the batches in flight take when they are large. */
#define SPARE_MIN (64u << 10)
#define SPARES 64u
#define SPARE_BYTES ((size_t)64 << 20)

enum { SLOT_EMPTY = 0, SLOT_PENDING, SLOT_BAD, SLOT_DONE };

/* Frame offsets of a BATCH: header, u32 count, task records. */

typedef struct rslot {
    uint64_t index;
    uint64_t w;   /* scalar result */
    char *data;   /* str result or error message, malloc'd */
    uint32_t len;
    uint8_t state, fail;
    uint16_t attempts; /* starts so far, beyond the first (retries used) */
    int status;   /* wait status for a lost worker */
    int32_t pid;  /* the worker that ran it, 0 if none did */
} rslot;

struct dlp_args {
    const dlp_sig *sig;
    dlp__buf *b;
    unsigned argi;
    int bad;
    char msg[384];
};

struct dlp_job {
    dlp_pool *pool;
    uint32_t id;
    int fn;
    dlp_sig sig;
    dlp_iter_fn next;
    void *ud;
    unsigned flags;
    int wait_fd;
    uint64_t timeout_ns;
    unsigned retries;
    /* (owner) */
    uint64_t next_in;
    int iter_done, iter_rc;
    int paused; /* the iterator said DLP_ITER_PAUSE */
    dlp__batch *fill;
    char *held; /* data of the result handed out last */
    /* Large str results' buffers, freed by their hand-out and kept for
     * the next large results: fresh memory for each would cost a page
     * fault per 4 KiB, most of the time of a 1 MiB result.  (mu) */
    char *spare[SPARES];
    size_t spare_bytes; /* their sizes, summed */
    dlp_val *held_val;
    dlp_args args;
    /* (mu) */
    rslot *ring;
    size_t mask;
    /* With DLP_JOB_TIMES: per slot, when the task started (CLOCK_REALTIME
     * ns) and how long it ran (ns); NULL otherwise, so that jobs that do
     * not ask pay nothing. */
    struct slot_times {
        uint64_t start, run;
    } *times;
    uint64_t limit; /* tasks in flight at most: the window asked for */
    uint64_t next_out, delivered;
    uint64_t *doneq;
    size_t dq_head, dq_len;
    dlp__batch *redo, *redo_tail;
    uint32_t target, max_batch;
    double ns_per_task;
    double target_ns; /* BATCH_TARGET_NS, or LINK_BATCH_TARGET_NS */
    /* Internal jobs (futures: apply, map, broadcast): tasks encoded when
     * the job is made, fed by whichever thread drives the pool, results
     * kept in the ring until the job is destroyed.  (mu) */
    int internal, pinned, cancelled;
    uint32_t chunksize; /* fixed batch size, 0: automatic */
    dlp__pre pre;
    uint64_t ndone;
    struct dlp_future *future;
    struct dlp_job *feed_prev, *feed_next; /* the pool's queue of jobs to
                                               feed, oldest first */
    int in_feedq;
    struct dlp_job *all_prev, *all_next; /* the pool's internal jobs */
};

static size_t pow2_at_least(size_t n)
{
    size_t w = 1;
    while (w < n)
        w <<= 1;
    return w;
}

DLP_API void dlp_job_options_init(dlp_job_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->wait_fd = -1;
}

static void job_free(dlp_job *j);

/* Free a job that dlp_job_create could not finish making. */
static void job_free_early(dlp_job *j)
{
    free(j->times);
    free(j->doneq);
    free(j->ring);
    free(j);
}

DLP_API int dlp_job_create(dlp_job **out, dlp_pool *p, int fn,
                           dlp_iter_fn next, void *ud,
                           const dlp_job_options *opts, dlp_error *err)
{
    dlp_job *j;
    size_t w;
    if (!out || !p || !next)
        return dlp__err(err, DLP_EINVAL, "dlp_job_create: NULL argument");
    *out = NULL;
    if (!dlp__handle_live(p, DLP__H_POOL))
        return dlp__handle_bad(err, "dlp_job_create", "pool");
    if (opts && (isnan(opts->timeout) || opts->timeout < 0))
        return dlp__err(err, DLP_EINVAL,
                        "a task timeout of %g s: give seconds > 0, or 0 for "
                        "none",
                        opts->timeout);
    j = calloc(1, sizeof *j);
    if (!j)
        return dlp__err(err, -ENOMEM, "out of memory");
    w = pow2_at_least(opts && opts->window ? opts->window : WINDOW_DEFAULT);
    if (w > (1u << 24)) {
        free(j);
        return dlp__err(err, DLP_EINVAL, "window of %u tasks is too large",
                        opts->window);
    }
    j->ring = calloc(w, sizeof *j->ring);
    j->flags = opts ? opts->flags : 0;
    j->wait_fd = opts && (opts->flags & DLP_JOB_WAIT_FD) ? opts->wait_fd : -1;
    /* Past 10^9 s (31 years) a timeout is none: its nanoseconds would not
     * fit. */
    j->timeout_ns = opts && opts->timeout > 0 && opts->timeout <= 1e9
                        ? (uint64_t)(opts->timeout * 1e9 + 0.5)
                        : 0;
    if (j->timeout_ns && j->timeout_ns < 1000000)
        j->timeout_ns = 1000000; /* the event loop's resolution: 1 ms */
    j->retries = opts ? opts->retries : 0;
    if (j->ring && (j->flags & DLP_JOB_UNORDERED))
        j->doneq = malloc(w * sizeof *j->doneq);
    if (j->ring && (j->flags & DLP_JOB_TIMES))
        j->times = calloc(w, sizeof *j->times);
    if (!j->ring || ((j->flags & DLP_JOB_UNORDERED) && !j->doneq) ||
        ((j->flags & DLP_JOB_TIMES) && !j->times)) {
        job_free_early(j);
        return dlp__err(err, -ENOMEM, "out of memory");
    }
    j->mask = w - 1;
    j->limit = opts && opts->window ? opts->window : w;
    j->chunksize = opts ? opts->chunksize : 0;
    j->pool = p;
    j->fn = fn;
    j->next = next;
    j->ud = ud;
    j->target = 1;
    j->target_ns = p->nworkers && p->w[0].link ? LINK_BATCH_TARGET_NS
                                               : BATCH_TARGET_NS;

    pthread_mutex_lock(&p->mu);
    if (p->closed) {
        pthread_mutex_unlock(&p->mu);
        job_free_early(j);
        return dlp__err(err, DLP_ECLOSED, "the pool is closed");
    }
    if (fn < 0 || (size_t)fn >= p->nfns || p->fns[fn]->state != DLP_FN_OK) {
        pthread_mutex_unlock(&p->mu);
        job_free_early(j);
        return dlp__err(err, DLP_EINVAL, "function id %d is not resolved",
                        fn);
    }
    if (p->fns[fn]->sig.nargs == 1 && p->fns[fn]->sig.args[0] == DLP_T_CHAN) {
        pthread_mutex_unlock(&p->mu);
        job_free_early(j);
        return dlp__err(err, DLP_EINVAL,
                        "'%s' is a process function (i32(chan)): start it "
                        "with dlp_process_start, it cannot run as tasks",
                        p->fns[fn]->ref);
    }
    j->sig = p->fns[fn]->sig;
    j->id = p->next_job++;
    p->open_jobs++;
    {
        size_t mb = w / (WORKER_DEPTH * p->nworkers + 2);
        size_t most = p->nworkers && p->w[0].link ? LINK_BATCH_MAX : BATCH_MAX;
        j->max_batch = (uint32_t)(mb < 1 ? 1 : mb > most ? most : mb);
    }
    if (j->chunksize) {
        /* The caller's choice, within what the window can hold. */
        j->target = j->max_batch = j->chunksize < j->limit
                                       ? j->chunksize
                                       : (uint32_t)j->limit;
    }
    pthread_mutex_unlock(&p->mu);
    if (dlp__handle_add(j, DLP__H_JOB)) {
        job_free(j);
        return dlp__err(err, -ENOMEM, "out of memory");
    }
    *out = j;
    return 0;
}

/* ---- arguments ---------------------------------------------------- */

static int args_bad(dlp_args *a, const char *fmt, ...) DLP_FMT(2, 3);

static int args_bad(dlp_args *a, const char *fmt, ...)
{
    if (!a->bad) {
        va_list ap;
        a->bad = 1;
        va_start(ap, fmt);
        if (vsnprintf(a->msg, sizeof a->msg, fmt, ap) >= (int)sizeof a->msg)
            dlp__utf8_trim(a->msg);
        va_end(ap);
    }
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
static int put_array_arg(dlp_args *a, dlp_type t, const void *data, size_t n)
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
        return put_array_arg(a, t, data ? data : "", n);
    if (n > (DLP_FRAME_MAX - 64) / dlp__type_size(DLP_T_ELEM(t)))
        return too_many(a, t, n);
    conv = malloc(n * dlp__type_size(DLP_T_ELEM(t)) + 1);
    if (!conv)
        return args_bad(a, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = num_store(a, DLP_T_ELEM(t), conv, i, num_at(elem, data, i));
    if (rc == 0)
        rc = put_array_arg(a, t, conv, n);
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
        rc = put_array_arg(a, t, conv, n);
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

/* ---- results, from the event loop (mu held) ------------------------ */

/* Free what a slot holds: a val tree for a successful val result, bytes
 * otherwise. */
static void slot_clear(dlp_job *j, rslot *s)
{
    if (j->sig.ret == DLP_T_VAL && !s->fail && s->state == SLOT_DONE)
        dlp_val_free((dlp_val *)(void *)s->data);
    else
        free(s->data);
    s->data = NULL;
}

static void slot_done(dlp_job *j, rslot *s)
{
    s->state = SLOT_DONE;
    if (j->internal) {
        if (++j->ndone == j->pre.n && j->future)
            dlp__future_complete(j->future);
        return;
    }
    if (j->flags & DLP_JOB_UNORDERED) {
        j->doneq[(j->dq_head + j->dq_len) & j->mask] = s->index;
        j->dq_len++;
    }
}

static void slot_fail(rslot *s, dlp_fail_kind kind, const char *msg,
                      size_t len)
{
    s->fail = (uint8_t)kind;
    s->data = malloc(len + 1);
    if (s->data) {
        memcpy(s->data, msg, len);
        s->data[len] = 0;
        s->len = (uint32_t)len;
    }
}

/* Free buf, a result's data, or keep it as a spare if it is large. */
static void recycle(dlp_job *j, char *buf)
{
    size_t n = buf && j->sig.ret == DLP_T_STR ? malloc_usable_size(buf) : 0;
    if (n >= SPARE_MIN && n <= SPARE_BYTES - j->spare_bytes) {
        for (unsigned k = 0; k < SPARES; k++) {
            if (!j->spare[k]) {
                j->spare[k] = buf;
                j->spare_bytes += n;
                return;
            }
        }
    }
    free(buf);
}

/* A buffer of n bytes for a str result: a spare one if n is large. */
static char *result_buffer(dlp_job *j, size_t n)
{
    if (n > SPARE_MIN) {
        for (unsigned k = 0; k < SPARES; k++) {
            char *b = j->spare[k];
            if (b && malloc_usable_size(b) >= n) {
                j->spare[k] = NULL;
                j->spare_bytes -= malloc_usable_size(b);
                return b;
            }
        }
    }
    return malloc(n);
}

/* A task that failed on an agent's pool (DLP_R_LOST, wire.h): fail slot s
 * as it failed there, with its kind, status, attempts and worker. */
static void lost_remote(rslot *s, const unsigned char *payload, uint32_t len)
{
    dlp__rd r;
    uint8_t kind;
    uint32_t signo, status, attempts, pid;
    dlp__rd_init(&r, payload, len);
    if (dlp__get_u8(&r, &kind) || dlp__get_u32(&r, &signo) ||
        dlp__get_u32(&r, &status) || dlp__get_u32(&r, &attempts) ||
        dlp__get_u32(&r, &pid) || kind == DLP_FAIL_NONE ||
        kind > DLP_FAIL_CANCELLED || kind == DLP_FAIL_INPUT) {
        static const char m[] = "malformed failure record from an agent";
        slot_fail(s, DLP_FAIL_RESULT, m, sizeof m - 1);
        return;
    }
    slot_fail(s, (dlp_fail_kind)kind, (const char *)r.p, (size_t)(r.end - r.p));
    /* As a wait status, which slot_view reads back. */
    s->status = kind == DLP_FAIL_SIGNAL ? (int)(signo & 0x7f)
                : kind == DLP_FAIL_EXIT ? (int)((status & 0xff) << 8)
                                        : 0;
    s->attempts = (uint16_t)(attempts ? attempts - 1 : 0);
    s->pid = (int32_t)pid;
}

void dlp__job_result(dlp_job *j, uint64_t index, int kind,
                     const unsigned char *payload, uint32_t len, pid_t pid)
{
    rslot *s = &j->ring[index & j->mask];
    if (s->state != SLOT_PENDING || s->index != index)
        return; /* cannot happen: the loop matched it to a sent task */
    s->pid = (int32_t)pid;
    if (kind == DLP_R_LOST) {
        lost_remote(s, payload, len);
    } else if (kind == DLP_R_FAIL) {
        slot_fail(s, DLP_FAIL_PLUGIN, (const char *)payload, len);
    } else if (kind == DLP_R_BADRESULT) {
        slot_fail(s, DLP_FAIL_RESULT, (const char *)payload, len);
    } else if (j->sig.ret == DLP_T_VAL) {
        dlp__rd r;
        dlp_val *v = NULL;
        dlp__rd_init(&r, payload, len);
        if (dlp__val_get(&r, &v) || r.p != r.end) {
            static const char m[] = "malformed val result from the worker";
            dlp_val_free(v);
            slot_fail(s, DLP_FAIL_RESULT, m, sizeof m - 1);
        } else {
            s->data = (char *)v; /* a tree while the slot is not failed */
        }
    } else if (j->sig.ret == DLP_T_STR) {
        s->data = result_buffer(j, (size_t)len + 1);
        if (!s->data) {
            static const char m[] = "out of memory receiving the result";
            slot_fail(s, DLP_FAIL_RESULT, m, sizeof m - 1);
        } else {
            memcpy(s->data, payload, len);
            s->data[len] = 0;
            s->len = len;
        }
    } else if (len == (j->sig.ret == DLP_T_VOID ? 0u : 8u)) {
        if (len)
            memcpy(&s->w, payload, 8);
    } else {
        static const char m[] = "malformed result from the worker";
        slot_fail(s, DLP_FAIL_RESULT, m, sizeof m - 1);
    }
    slot_done(j, s);
}

uint64_t dlp__job_timeout_ns(const dlp_job *j)
{
    return j->timeout_ns;
}

unsigned dlp__job_retries(const dlp_job *j)
{
    return j->retries;
}

int dlp__job_timed(const dlp_job *j)
{
    return j->times != NULL;
}

void dlp__job_stamp(dlp_job *j, uint64_t index, uint64_t start_ns,
                    uint64_t run_ns)
{
    rslot *s = &j->ring[index & j->mask];
    if (!j->times || s->state != SLOT_PENDING || s->index != index)
        return;
    j->times[index & j->mask].start = start_ns;
    j->times[index & j->mask].run = run_ns;
}

int dlp__job_retry(dlp_job *j, uint64_t index)
{
    rslot *s = &j->ring[index & j->mask];
    if (j->pinned)
        return 0; /* a broadcast's task belongs to its worker */
    if (s->state != SLOT_PENDING || s->index != index ||
        s->attempts >= j->retries)
        return 0;
    s->attempts++;
    return 1;
}

void dlp__job_attempts(dlp_job *j, uint64_t index, uint32_t attempts)
{
    rslot *s = &j->ring[index & j->mask];
    uint32_t n = s->attempts + attempts - 1u;
    if (s->state == SLOT_PENDING && s->index == index)
        s->attempts = (uint16_t)(n > UINT16_MAX ? UINT16_MAX : n);
}

void dlp__job_lost(dlp_job *j, uint64_t index, dlp_fail_kind kind,
                   int status, const char *reason, pid_t pid)
{
    rslot *s = &j->ring[index & j->mask];
    if (s->state != SLOT_PENDING || s->index != index)
        return;
    s->pid = (int32_t)pid;
    if (s->attempts) {
        char msg[320];
        if (snprintf(msg, sizeof msg, "%s (after %u attempts)", reason,
                     s->attempts + 1u) >= (int)sizeof msg)
            dlp__utf8_trim(msg);
        slot_fail(s, kind, msg, strlen(msg));
    } else {
        slot_fail(s, kind, reason, strlen(reason));
    }
    s->status = status;
    slot_done(j, s);
}

static void feedq_add(dlp_job *j);
static void feedq_remove(dlp_job *j);

int dlp__job_requeue(dlp_job *j, dlp__batch *b, int have_skip,
                     uint64_t skip)
{
    if (j->pinned) {
        /* A broadcast's task belongs to the worker it was sent to: with
         * that worker gone it cannot run anywhere else. */
        dlp__rd r;
        uint64_t index;
        uint32_t arglen;
        const unsigned char *args;
        int hit = 0;
        dlp__rd_init(&r, b->frame.p + b->scan, b->frame.len - b->scan);
        while (dlp__task_next(&r, &index, &args, &arglen) == 0) {
            if (have_skip && index == skip) {
                hit = 1;
                continue;
            }
            dlp__job_lost(j, index, DLP_FAIL_WORKER, 0,
                          "the worker left before running it", 0);
        }
        dlp__batch_free(b);
        return hit;
    }
    if (j->internal)
        feedq_add(j);
    /* Compact the unanswered records to the front of the frame (moving
     * forward only, so in place), leaving out the skipped one, and make
     * the frame a fresh batch.  The frame is our own, not a peer's. */
    size_t src = b->scan, dst = DLP_BATCH_OFF_TASKS;
    uint32_t count = 0;
    int hit = 0;
    while (src + DLP_TASK_HDR <= b->frame.len) {
        const unsigned char *task = b->frame.p + src;
        size_t reclen = dlp__task_rec_size(task);
        if (have_skip && !hit && dlp__task_rec_index(task) == skip) {
            hit = 1;
        } else {
            memmove(b->frame.p + dst, b->frame.p + src, reclen);
            dst += reclen;
            count++;
        }
        src += reclen;
    }
    if (count == 0) {
        dlp__batch_free(b);
        return hit;
    }
    b->frame.len = dst;
    dlp__batch_frame_set_count(b->frame.p, count);
    dlp__frame_end(&b->frame, 0);
    b->count = count;
    b->done = 0;
    b->scan = DLP_BATCH_OFF_TASKS;
    b->next = NULL;
    if (j->redo_tail)
        j->redo_tail->next = b;
    else
        j->redo = b;
    j->redo_tail = b;
    return hit;
}

void dlp__job_timing(dlp_job *j, uint32_t n, uint64_t busy_ns)
{
    double per, t;
    if (n == 0 || j->chunksize)
        return;
    per = (double)busy_ns / n;
    j->ns_per_task = j->ns_per_task == 0 ? per
                                         : 0.7 * j->ns_per_task + 0.3 * per;
    t = j->ns_per_task > 0 ? j->target_ns / j->ns_per_task : j->max_batch;
    /* Grow at most 16x per report, so one fast outlier cannot swing a
     * job of slow tasks into huge batches. */
    if (t > 16.0 * j->target)
        t = 16.0 * j->target;
    if (t < 1)
        t = 1;
    if (t > j->max_batch)
        t = j->max_batch;
    j->target = (uint32_t)t;
}

/* ---- the feeder ----------------------------------------------------- */

/* A new fill batch for job j: a spare of the pool's when mu is held. */
static dlp__batch *new_batch(dlp_job *j, int locked)
{
    dlp__batch *b = locked ? dlp__batch_take(j->pool) : calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->type = DLP_F_BATCH;
    b->job = j;
    b->job_id = j->id;
    b->fn = (uint32_t)j->fn;
    b->scan = DLP_BATCH_OFF_TASKS;
    if (dlp__frame_begin(&b->frame, DLP_F_BATCH, j->id, (uint32_t)j->fn) <
            0 ||
        dlp__put_u32(&b->frame, 0)) {
        dlp__batch_free(b);
        return NULL;
    }
    if (j->timeout_ns || j->times) {
        uint16_t flags = (uint16_t)((j->timeout_ns ? DLP_BATCH_TIMED : 0) |
                                    (j->times ? DLP_BATCH_TIMES : 0));
        dlp__hdr_set_flags(b->frame.p, flags);
    }
    return b;
}

/* What a task's arguments must be once its iterator has given them, len
 * bytes encoded: every argument given, and no more bytes than a frame
 * holds. */
static void args_check(dlp_args *a, size_t len)
{
    if (!a->bad && a->argi != a->sig->nargs)
        args_bad(a, "expected %u argument%s, got %u", a->sig->nargs,
                 a->sig->nargs == 1 ? "" : "s", a->argi);
    if (!a->bad && len > TASK_ARGS_MAX)
        args_bad(a, "the arguments take %zu bytes, over the limit of %zu",
                 len, (size_t)TASK_ARGS_MAX);
}

int dlp__job_args(const dlp_sig *sig, dlp_iter_fn next, void *ud,
                  uint64_t index, dlp__buf *b, char *msg, size_t size)
{
    dlp_args a;
    size_t start = b->len;
    int rc;
    memset(&a, 0, sizeof a);
    a.sig = sig;
    a.b = b;
    rc = next(ud, index, &a);
    if (rc == 1)
        args_check(&a, b->len - start);
    if (rc != 1 || a.bad)
        b->len = start;
    if (size)
        snprintf(msg, size, "%s", rc == 1 && a.bad ? a.msg : "");
    return rc;
}

/* Pull up to room tasks into the fill batch.  Runs with mu released:
 * it touches only the fill batch and free slots, which are the owner's. */
static int pull(dlp_job *j, size_t room)
{
    dlp_args *a = &j->args;
    for (size_t k = 0; k < room; k++) {
        dlp__batch *b = j->fill;
        rslot *s = &j->ring[j->next_in & j->mask];
        size_t rec;
        int rc;
        if (!b && !(b = j->fill = new_batch(j, 0)))
            return -ENOMEM;
        rec = b->frame.len;
        if (dlp__put_u64(&b->frame, j->next_in) || dlp__put_u32(&b->frame, 0))
            return -ENOMEM;
        a->sig = &j->sig;
        a->b = &b->frame;
        a->argi = 0;
        a->bad = 0;
        rc = j->next(j->ud, j->next_in, a);
        if (rc <= 0 || rc == DLP_ITER_PAUSE) {
            b->frame.len = rec;
            if (rc == 0)
                j->iter_done = 1;
            else if (rc == DLP_ITER_PAUSE)
                j->paused = 1;
            else
                j->iter_rc = rc;
            return 0;
        }
        args_check(a, b->frame.len - rec - DLP_TASK_HDR);
        s->index = j->next_in;
        if (j->times)
            memset(&j->times[j->next_in & j->mask], 0, sizeof *j->times);
        if (a->bad) {
            b->frame.len = rec;
            slot_fail(s, DLP_FAIL_INPUT, a->msg, strlen(a->msg));
            s->state = SLOT_BAD;
        } else {
            dlp__task_rec_set_arglen(
                b->frame.p + rec,
                (uint32_t)(b->frame.len - rec - DLP_TASK_HDR));
            b->count++;
            s->state = SLOT_PENDING;
            if (j->internal && j->pre.task)
                s->attempts = (uint16_t)j->pre.task[s->index].attempts;
        }
        j->next_in++;
        if (b->frame.len >= BATCH_BYTES)
            return 0; /* the batch is full by size */
    }
    return 0;
}

/* Send the fill batch to a worker with room, if one has. */
static int send_fill(dlp_job *j)
{
    dlp__worker *w = dlp__pool_pick(j->pool, WORKER_DEPTH);
    dlp__batch *b = j->fill;
    if (!w)
        return 0;
    dlp__batch_frame_set_count(b->frame.p, b->count);
    if (dlp__frame_end(&b->frame, 0))
        return DLP_ETOOBIG;
    j->fill = NULL;
    dlp__pool_send(j->pool, w, b);
    return 1;
}

/* Move work towards the workers: resend batches of lost workers, pull new
 * tasks while the window has room, send full batches.  mu held. */
static int feed(dlp_job *j)
{
    dlp_pool *p = j->pool;
    for (;;) {
        while (j->redo) {
            dlp__worker *w = dlp__pool_pick(p, WORKER_DEPTH);
            dlp__batch *b = j->redo;
            if (!w)
                return 0;
            j->redo = b->next;
            if (!j->redo)
                j->redo_tail = NULL;
            dlp__pool_send(p, w, b);
        }
        int can_pull = !j->iter_done && !j->iter_rc && !j->paused &&
                       j->next_in - j->delivered < j->limit &&
                       j->ring[j->next_in & j->mask].state == SLOT_EMPTY;
        if (j->fill && j->fill->count &&
            (j->fill->count >= j->target ||
             j->fill->frame.len >= BATCH_BYTES || !can_pull)) {
            int rc = send_fill(j);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return 0; /* every worker is full */
            continue;
        }
        if (!can_pull)
            return 0;
        /* Room: free slots ahead, up to what the batch still takes. */
        size_t want = j->target - (j->fill ? j->fill->count : 0), room = 0;
        while (room < want && j->next_in + room - j->delivered < j->limit &&
               j->ring[(j->next_in + room) & j->mask].state == SLOT_EMPTY)
            room++;
        uint64_t first = j->next_in;
        if (!j->fill && !(j->fill = new_batch(j, 1)))
            return -ENOMEM;
        /* An internal job's iterator copies bytes it owns: it needs no
         * unlocking, and any driving thread may feed it. */
        if (!j->internal)
            pthread_mutex_unlock(&p->mu);
        int rc = pull(j, room);
        if (!j->internal)
            pthread_mutex_lock(&p->mu);
        for (uint64_t i = first; i < j->next_in; i++) {
            rslot *s = &j->ring[i & j->mask];
            if (s->state == SLOT_BAD)
                slot_done(j, s);
        }
        if (rc)
            return rc;
    }
}

/* ---- handing results out ------------------------------------------- */

/* Describe slot s in res; pointers in res point into the slot. */
static void slot_view(const dlp_job *j, const rslot *s, dlp_result *res)
{
    memset(res, 0, sizeof *res);
    res->index = s->index;
    res->type = j->sig.ret;
    res->fail = (dlp_fail_kind)s->fail;
    res->attempts = s->fail == DLP_FAIL_INPUT || s->fail == DLP_FAIL_CANCELLED
                        ? 0
                        : s->attempts + 1u;
    res->pid = s->pid;
    if (j->times) {
        const struct slot_times *t = &j->times[s->index & j->mask];
        res->start = (double)t->start / 1e9;
        res->run_time = (double)t->run / 1e9;
    }
    if (s->fail) {
        res->error = s->data ? s->data : "out of memory keeping the error";
        if (s->fail == DLP_FAIL_SIGNAL)
            res->signo = WTERMSIG(s->status);
        else if (s->fail == DLP_FAIL_EXIT)
            res->exit_status = WEXITSTATUS(s->status);
        return;
    }
    switch (j->sig.ret) {
    case DLP_T_STR:
        res->v.s.ptr = s->data;
        res->v.s.len = s->len;
        break;
    case DLP_T_VAL:
        res->v.val = (const dlp_val *)(const void *)s->data;
        break;
    case DLP_T_F32:
    case DLP_T_F64:
        memcpy(&res->v.f, &s->w, 8);
        break;
    case DLP_T_BOOL:
        res->v.b = s->w != 0;
        break;
    case DLP_T_VOID:
        break;
    default:
        if (dlp__type_is_signed(j->sig.ret))
            res->v.i = (int64_t)s->w;
        else
            res->v.u = s->w;
    }
}

/* Hand slot s out in res: the job keeps its data until the next one. */
static void fill_result(dlp_job *j, rslot *s, dlp_result *res)
{
    slot_view(j, s, res);
    if (j->held) {
        recycle(j, j->held);
        j->held = NULL;
    }
    if (j->held_val) {
        dlp_val_free(j->held_val);
        j->held_val = NULL;
    }
    if (j->sig.ret == DLP_T_VAL && !s->fail)
        j->held_val = (dlp_val *)(void *)s->data;
    else
        j->held = s->data;
    s->data = NULL;
    s->len = 0;
    s->fail = 0;
    s->status = 0;
    s->attempts = 0;
    s->pid = 0;
    s->state = SLOT_EMPTY;
    j->delivered++;
}

static rslot *ready(dlp_job *j)
{
    if (j->flags & DLP_JOB_UNORDERED) {
        if (!j->dq_len)
            return NULL;
        rslot *s = &j->ring[j->doneq[j->dq_head] & j->mask];
        j->dq_head = (j->dq_head + 1) & j->mask;
        j->dq_len--;
        return s;
    }
    rslot *s = &j->ring[j->next_out & j->mask];
    if (s->state != SLOT_DONE)
        return NULL;
    j->next_out++;
    return s;
}

/* dlp_job_next with a deadline (0: none). */
static int next_until(dlp_job *j, dlp_result *res, uint64_t deadline,
                      dlp_error *err)
{
    dlp_pool *p;
    int rc;
    if (!j || !res)
        return dlp__err(err, DLP_EINVAL, "dlp_job_next: NULL argument");
    if (j->internal)
        return dlp__err(err, DLP_EINVAL,
                        "dlp_job_next: the job belongs to a future");
    p = j->pool;
    pthread_mutex_lock(&p->mu);
    int polled = 0;
    for (;;) {
        rslot *s;
        /* A plain load first: the exchange is a full barrier, too dear
         * for every result. */
        if (__atomic_load_n(&p->interrupted, __ATOMIC_RELAXED) &&
            __atomic_exchange_n(&p->interrupted, 0, __ATOMIC_ACQ_REL)) {
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, -EINTR, "interrupted");
        }
        s = ready(j);
        if (s) {
            fill_result(j, s, res);
            pthread_mutex_unlock(&p->mu);
            return 1;
        }
        if (j->iter_rc && j->delivered == j->next_in) {
            /* Every task pulled before the failure has been handed out. */
            rc = j->iter_rc;
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, rc, "the job's iterator failed: %s",
                            dlp_strerror(rc));
        }
        if (j->iter_done && j->delivered == j->next_in) {
            pthread_mutex_unlock(&p->mu);
            return 0;
        }
        if ((rc = feed(j)) < 0) {
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, rc, "cannot queue tasks: %s",
                            dlp_strerror(rc));
        }
        s = ready(j);
        if (s) {
            fill_result(j, s, res);
            pthread_mutex_unlock(&p->mu);
            return 1;
        }
        if ((j->iter_done || j->iter_rc) && j->delivered == j->next_in)
            continue;
        if (dlp__pool_alive(p) == 0) {
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, DLP_EWORKER,
                            "every worker of the pool is gone (the last: "
                            "%s)",
                            p->last_loss[0] ? p->last_loss : "unknown");
        }
        if (deadline && dlp__now_ns() >= deadline) {
            if (!polled) {
                /* Read what has arrived once before saying "nothing":
                 * a timeout of 0 polls. */
                polled = 1;
                dlp__pool_drive_until(p, -1, 1);
                continue;
            }
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, -ETIMEDOUT, "no result within the timeout");
        }
        if (j->paused && j->wait_fd < 0 && j->delivered == j->next_in) {
            /* Nothing to wait for but the iterator: give it a moment
             * instead of spinning on it. */
            struct timespec ms = {0, 1000000};
            pthread_mutex_unlock(&p->mu);
            nanosleep(&ms, NULL);
            pthread_mutex_lock(&p->mu);
            j->paused = 0;
            continue;
        }
        if (dlp__pool_drive_until(p, j->paused ? j->wait_fd : -1, deadline) ||
            (j->paused && j->wait_fd < 0))
            j->paused = 0;
    }
}

DLP_API int dlp_job_next(dlp_job *j, dlp_result *res, dlp_error *err)
{
    return next_until(j, res, 0, err);
}

DLP_API int dlp_job_next_timeout(dlp_job *j, dlp_result *res, double timeout,
                                 dlp_error *err)
{
    if (isnan(timeout))
        return dlp__err(err, DLP_EINVAL,
                        "dlp_job_next_timeout: a timeout of NaN seconds");
    return next_until(j, res, dlp__pool_deadline(timeout), err);
}

DLP_API int dlp_job_poll(dlp_job *j, dlp_result *res, dlp_error *err)
{
    dlp_pool *p;
    rslot *s;
    if (!j || !res)
        return dlp__err(err, DLP_EINVAL, "dlp_job_poll: NULL argument");
    p = j->pool;
    pthread_mutex_lock(&p->mu);
    s = ready(j);
    if (!s) {
        dlp__pool_drive(p, -1, 1); /* read what has arrived, without waiting */
        s = ready(j);
    }
    if (s) {
        fill_result(j, s, res);
        pthread_mutex_unlock(&p->mu);
        return 1;
    }
    if (j->iter_done && j->delivered == j->next_in) {
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    pthread_mutex_unlock(&p->mu);
    return dlp__err(err, -EAGAIN, "no result is ready");
}

DLP_API void dlp_job_counts_get(const dlp_job *j, dlp_job_counts *out)
{
    dlp_pool *p;
    if (!out)
        return;
    if (!dlp__handle_live(j, DLP__H_JOB)) {
        out->pulled = out->delivered = 0;
        return;
    }
    p = j->pool;
    pthread_mutex_lock(&p->mu);
    out->pulled = j->next_in;
    out->delivered = j->delivered;
    pthread_mutex_unlock(&p->mu);
}

DLP_API const char *dlp_fail_kind_name(dlp_fail_kind kind)
{
    switch (kind) {
    case DLP_FAIL_NONE:
        return "ok";
    case DLP_FAIL_PLUGIN:
        return "plugin";
    case DLP_FAIL_INPUT:
        return "input";
    case DLP_FAIL_SIGNAL:
        return "signal";
    case DLP_FAIL_EXIT:
        return "exit";
    case DLP_FAIL_RESULT:
        return "result";
    case DLP_FAIL_WORKER:
        return "worker";
    case DLP_FAIL_TIMEOUT:
        return "timeout";
    case DLP_FAIL_CANCELLED:
        return "cancelled";
    }
    return "unknown";
}

/* Take the job's batches out of worker w's queue: unsent ones are freed,
 * sent ones are kept (the worker will answer them) but orphaned. */
static void detach(dlp__worker *w, dlp_job *j)
{
    dlp__batch **pp = &w->head, *prev = NULL;
    int sent = 1;
    while (*pp) {
        dlp__batch *b = *pp;
        if (b == w->send && w->send_off == 0)
            sent = 0;
        if (b->job == j && !sent) {
            *pp = b->next;
            if (w->send == b)
                w->send = b->next;
            if (w->tail == b)
                w->tail = prev;
            if (b->type == DLP_F_BATCH)
                w->nbatches--;
            dlp__batch_free(b);
            continue;
        }
        if (b == w->send)
            sent = 0; /* partly sent: keep it, but later ones are unsent */
        if (b->job == j)
            b->job = NULL;
        prev = b;
        pp = &b->next;
    }
}

/* Free job j.  When its pool was destroyed while it was open and it was
 * the pool's last job, the pool goes too. */
static void job_free(dlp_job *j)
{
    dlp_pool *p = j->pool;
    int last;
    pthread_mutex_lock(&p->mu);
    if (j->internal) {
        feedq_remove(j);
        if (j->all_prev)
            j->all_prev->all_next = j->all_next;
        else
            p->internal_jobs = j->all_next;
        if (j->all_next)
            j->all_next->all_prev = j->all_prev;
    } else {
        p->open_jobs--;
    }
    for (unsigned i = 0; i < p->nworkers; i++) {
        dlp__worker *w = &p->w[i];
        detach(w, j);
        /* A task of this job still running would hold its worker for
         * nobody: stop it.  Killed like a timeout (so neither a task nor
         * the restart intensity is charged), and replaced. */
        if (w->fd >= 0 && !w->kill_seq &&
            __atomic_load_n(&w->score->busy, __ATOMIC_ACQUIRE) ==
                DLP_SCORE_TASK &&
            w->score->job == j->id) {
            w->kill_seq = __atomic_load_n(&w->score->seq, __ATOMIC_ACQUIRE);
            w->kill_after_ns = 0;
            kill(w->pid, SIGKILL);
        }
    }
    last = p->destroyed && !p->open_jobs && !p->internal_jobs;
    pthread_mutex_unlock(&p->mu);
    while (j->redo) {
        dlp__batch *b = j->redo;
        j->redo = b->next;
        dlp__batch_free(b);
    }
    dlp__batch_free(j->fill);
    /* Only the slots of the last ring's worth of tasks pulled can hold
     * anything: visiting all of a large window would fault in pages the
     * job never used (10 ms for the default 65,536 slots). */
    {
        uint64_t used = j->next_in < j->mask + 1 ? j->next_in : j->mask + 1;
        for (uint64_t i = j->next_in - used; i < j->next_in; i++)
            slot_clear(j, &j->ring[i & j->mask]);
    }
    free(j->ring);
    free(j->doneq);
    free(j->times);
    for (unsigned k = 0; k < SPARES; k++)
        free(j->spare[k]);
    free(j->held);
    dlp_val_free(j->held_val);
    dlp__pre_free(&j->pre);
    free(j);
    if (last)
        dlp__pool_free(p);
}

DLP_API void dlp_job_destroy(dlp_job *j)
{
    /* A job destroyed already (or never made) is not touched. */
    if (!j || !dlp__handle_drop(j, DLP__H_JOB))
        return;
    job_free(j);
}

/* ---- internal jobs: the tasks of futures ----------------------------- */

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

/* The iterator of an internal job: copy task index's encoded arguments. */
static int pre_next(void *ud, uint64_t index, dlp_args *a)
{
    dlp_job *j = ud;
    const struct dlp__pre_task *t;
    if (index >= j->pre.n || j->cancelled)
        return 0;
    if (j->pre.bad && j->pre.bad[index])
        return dlp_args_fail(a, "%s", j->pre.bad[index]), 1;
    t = &j->pre.task[index];
    if (dlp__buf_put(a->b, j->pre.bytes.p + t->off, t->len))
        return args_bad(a, "out of memory"), 1;
    a->argi = j->sig.nargs;
    return 1;
}

static void feedq_add(dlp_job *j)
{
    dlp_pool *p = j->pool;
    if (j->in_feedq || j->cancelled)
        return;
    /* At the tail: calls are sent in the order they were made, and an old
     * one is never starved by new ones. */
    j->in_feedq = 1;
    j->feed_next = NULL;
    j->feed_prev = p->feedq_tail;
    if (p->feedq_tail)
        p->feedq_tail->feed_next = j;
    else
        p->feedq = j;
    p->feedq_tail = j;
}

static void feedq_remove(dlp_job *j)
{
    dlp_pool *p = j->pool;
    if (!j->in_feedq)
        return;
    if (j->feed_prev)
        j->feed_prev->feed_next = j->feed_next;
    else
        p->feedq = j->feed_next;
    if (j->feed_next)
        j->feed_next->feed_prev = j->feed_prev;
    else
        p->feedq_tail = j->feed_prev;
    j->feed_prev = j->feed_next = NULL;
    j->in_feedq = 0;
}

/* The job has nothing more to send. */
static int fed(const dlp_job *j)
{
    return !j->redo && (!j->fill || !j->fill->count) &&
           (j->iter_done || j->iter_rc ||
            (j->internal && j->next_in >= j->pre.n));
}

void dlp__pool_pump(dlp_pool *p)
{
    dlp_job *j = p->feedq;
    while (j) {
        if (!dlp__pool_pick(p, WORKER_DEPTH))
            return; /* every worker is full: nothing to do now */
        if (!j->cancelled && feed(j) < 0)
            dlp__job_abort(j, DLP_FAIL_RESULT, "out of memory sending it");
        /* Feeding may have queued other jobs (a lost worker's batches go
         * back to their jobs): they join at the tail, after j. */
        dlp_job *next = j->feed_next;
        if (j->cancelled || fed(j))
            feedq_remove(j);
        j = next;
    }
}

int dlp__job_internal(dlp_job **out, dlp_pool *p, int fn, dlp__pre *pre,
                      double timeout, unsigned retries, int pinned,
                      unsigned flags, unsigned chunksize,
                      struct dlp_future *f, dlp_error *err)
{
    dlp_job_options o;
    dlp_job *j;
    int rc;
    *out = NULL;
    if (pre->n > (1u << 24)) {
        dlp__pre_free(pre);
        return dlp__err(err, DLP_ETOOBIG,
                        "%zu tasks in one call: at most %u (use a job for "
                        "more)",
                        pre->n, 1u << 24);
    }
    dlp_job_options_init(&o);
    o.window = pre->n ? (unsigned)pre->n : 1;
    o.flags = flags & DLP_JOB_TIMES;
    o.chunksize = chunksize;
    o.timeout = timeout;
    o.retries = retries;
    if ((rc = dlp_job_create(&j, p, fn, pre_next, NULL, &o, err))) {
        dlp__pre_free(pre);
        return rc;
    }
    j->ud = j;
    j->pre = *pre;
    memset(pre, 0, sizeof *pre);
    j->future = f;
    pthread_mutex_lock(&p->mu);
    p->open_jobs--; /* dlp_job_create counted it as the caller's */
    j->internal = 1;
    j->all_next = p->internal_jobs;
    if (p->internal_jobs)
        p->internal_jobs->all_prev = j;
    p->internal_jobs = j;
    if (j->pre.n == 0) {
        j->iter_done = 1;
        if (f)
            dlp__future_complete(f);
    } else if (pinned) {
        unsigned *slots = malloc(p->nworkers * sizeof *slots);
        unsigned nlive = slots ? dlp__pool_live_slots(p, slots) : 0;
        j->pinned = 1;
        /* One task per live worker, each in its own batch sent to it,
         * whatever it holds already. */
        for (uint64_t i = 0; i < j->pre.n; i++) {
            rslot *s = &j->ring[i & j->mask];
            if (i >= nlive || p->w[slots[i]].fd < 0 || pull(j, 1) ||
                !j->fill || j->next_in != i + 1) {
                /* The worker left since the call counted them (or no
                 * memory): this task has nowhere to run. */
                if (j->next_in == i) {
                    s->index = i;
                    s->state = SLOT_PENDING;
                    j->next_in++;
                }
                if (s->state == SLOT_PENDING)
                    dlp__job_lost(j, i, DLP_FAIL_WORKER, 0,
                                  "no live worker to run it", 0);
            }
            if (s->state == SLOT_BAD)
                slot_done(j, s);
            if (j->fill && j->fill->count) {
                dlp__batch *b = j->fill;
                j->fill = NULL;
                dlp__batch_frame_set_count(b->frame.p, b->count);
                dlp__frame_end(&b->frame, 0);
                dlp__pool_send(p, &p->w[slots[i]], b);
            }
        }
        j->iter_done = 1;
        free(slots);
    } else {
        feedq_add(j);
        dlp__pool_pump(p);
    }
    pthread_mutex_unlock(&p->mu);
    *out = j;
    return 0;
}

uint64_t dlp__job_total(const dlp_job *j)
{
    return j->pre.n;
}

uint64_t dlp__job_done(const dlp_job *j)
{
    return j->ndone;
}

int dlp__job_view(dlp_job *j, uint64_t i, dlp_result *res)
{
    rslot *s;
    if (i >= j->pre.n)
        return DLP_EINVAL;
    s = &j->ring[i & j->mask];
    if (s->state != SLOT_DONE || s->index != i)
        return -EAGAIN;
    slot_view(j, s, res);
    return 0;
}

/* Has any batch of job j been written to a worker, even in part? */
static int started(dlp_job *j)
{
    dlp_pool *p = j->pool;
    for (unsigned i = 0; i < p->nworkers; i++) {
        dlp__worker *w = &p->w[i];
        for (dlp__batch *b = w->head; b; b = b->next) {
            if (b == w->send && w->send_off == 0)
                break; /* this one and the rest are unsent */
            if (b->job == j)
                return 1;
            if (b == w->send)
                break;
        }
    }
    return 0;
}

/* Fail every task of j that is not done yet, and drop its unsent work. */
static void fail_rest(dlp_job *j, dlp_fail_kind kind, const char *why)
{
    dlp_pool *p = j->pool;
    for (unsigned i = 0; i < p->nworkers; i++)
        detach(&p->w[i], j);
    while (j->redo) {
        dlp__batch *b = j->redo;
        j->redo = b->next;
        dlp__batch_free(b);
    }
    j->redo_tail = NULL;
    dlp__batch_free(j->fill);
    j->fill = NULL;
    feedq_remove(j);
    for (uint64_t i = 0; i < j->pre.n; i++) {
        rslot *s = &j->ring[i & j->mask];
        if (i >= j->next_in) {
            s->index = i;
            s->state = SLOT_PENDING;
        }
        if (s->state == SLOT_PENDING) {
            slot_fail(s, kind, why, strlen(why));
            slot_done(j, s);
        } else if (s->state == SLOT_BAD) {
            slot_done(j, s);
        }
    }
    j->next_in = j->pre.n;
    j->iter_done = 1;
}

int dlp__job_cancel(dlp_job *j)
{
    if (j->ndone == j->pre.n && j->cancelled)
        return 0;
    if (j->ndone > 0 || j->redo || started(j))
        return -EBUSY; /* (a batch to send again was sent once) */
    j->cancelled = 1;
    fail_rest(j, DLP_FAIL_CANCELLED, "cancelled before it started");
    return 0;
}

void dlp__job_abort(dlp_job *j, dlp_fail_kind kind, const char *why)
{
    if (j->ndone < j->pre.n)
        fail_rest(j, kind, why);
}

void dlp__job_forget_future(struct dlp_job *j)
{
    j->future = NULL;
}

struct dlp_job *dlp__job_next_internal(const struct dlp_job *j)
{
    return j->all_next;
}

int dlp__job_cancelled(const struct dlp_job *j)
{
    return j->cancelled;
}
