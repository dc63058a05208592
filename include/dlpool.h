/*
 * dlpool.h - running functions of plugins in a pool of worker processes.
 *
 * A pool forks worker processes.  A function is named by reference,
 * "PLUGIN:SYMBOL"; every worker loads the plugin once, resolves the symbol
 * once and prepares its libffi call once.  A job maps the function over
 * argument tuples that the caller supplies through an iterator; only typed
 * data crosses the process boundary, and results come back in input order
 * (or as they finish, for unordered jobs).
 *
 * Conventions:
 *  - A call that can fail returns int: 0 (or a count) on success and a
 *    negative DLP_E* code on failure; OS failures are -errno.
 *  - `dlp_error *err` may be NULL; when given, it receives a one-line message
 *    that names what was wrong (plugin path, symbol, signature column).
 *  - Arguments are borrowed.  Returned pointers say who owns them.
 *  - Every function is safe to call from several threads at once, with the
 *    exception noted on dlp_job_next().
 *  - A pool, job or future is a handle until its destroy.  A handle
 *    destroyed already is recognised (the library keeps a set of the live
 *    ones): a call that returns int returns DLP_EINVAL ("no such pool"),
 *    one that returns a count, a pointer or a bool returns 0, NULL or
 *    false, and a destroy or dlp_pool_terminate does nothing.  Not
 *    checked: dlp_job_next, dlp_job_next_timeout and dlp_job_poll (called
 *    once per result) and dlp_pool_interrupt (async-signal-safe); nor a
 *    handle whose address a newer one has taken since, nor a call made
 *    while another thread destroys its handle.
 *  - A timeout in seconds that is NaN is refused with DLP_EINVAL; one past
 *    10^9 seconds is no limit.
 */
#ifndef DLPOOL_H
#define DLPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__GNUC__) && defined(DLP_BUILDING_LIBRARY)
#define DLP_API __attribute__((visibility("default")))
#else
#define DLP_API
#endif

#include <dlpool/val.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DLPOOL_VERSION_MAJOR 0
#define DLPOOL_VERSION_MINOR 1
#define DLPOOL_VERSION_PATCH 0
#define DLPOOL_VERSION_STRING "0.1.0"

/* ---- errors ---------------------------------------------------------- */

/* dlpool's own error codes.  They sit below -4000, where no errno reaches;
 * OS errors are returned as -errno.  Keep in step with dlp_strerror(). */
#define DLP_ERRNO_MAP(X)                                                       \
    X(EINVAL, -4001, "invalid argument")                                       \
    X(ESIG, -4002, "bad signature")                                            \
    X(ENOPLUGIN, -4003, "plugin not found or not loadable")                    \
    X(ENOSYM, -4004, "no such symbol")                                         \
    X(ENOSIG, -4005, "no signature known for the function")                   \
    X(EABI, -4006, "plugin manifest has an unsupported ABI")                   \
    X(EFFI, -4007, "libffi could not prepare the call")                        \
    X(EPROTO, -4008, "malformed frame")                                        \
    X(EWORKER, -4009, "worker failed")                                         \
    X(ECLOSED, -4010, "pool is closed")                                        \
    X(ETOOBIG, -4011, "value too large")                                       \
    X(EINIT, -4012, "plugin init hook failed")                                 \
    X(ETIMEDOUT, -4013, "timed out")                                          \
    X(ETASK, -4014, "the task failed")

enum {
#define DLP_ERR_ENUM_(name, code, text) DLP_##name = (code),
    DLP_ERRNO_MAP(DLP_ERR_ENUM_)
#undef DLP_ERR_ENUM_
};

/* A message for a code.  Static; never NULL, also for unknown codes. */
DLP_API const char *dlp_strerror(int code);

/* Caller-owned error detail. */
typedef struct dlp_error {
    int code;      /* the same code the call returned */
    char msg[512]; /* one line, names the culprit */
} dlp_error;

/* ---- types ----------------------------------------------------------- */

/* The types of the signature language.  Values are part of the ABI. */
typedef enum dlp_type {
    DLP_T_VOID = 0,
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
    DLP_T_VAL, /* a structured value: const dlp_val * (dlpool/val.h) */
    DLP_T_CHAN /* a channel end: only in "i32(chan)", a process function */
} dlp_type;

/* An array of a numeric type, "i64[]": the element type or'ed with this
 * flag.  An argument only, passed to C as (const T *data, size_t n). */
#define DLP_T_ARRAY 0x100
#define DLP_T_ARRAY_OF(t) ((dlp_type)((t) | DLP_T_ARRAY))
#define DLP_T_IS_ARRAY(t) (((t) & DLP_T_ARRAY) != 0)
#define DLP_T_ELEM(t) ((dlp_type)((t) & ~DLP_T_ARRAY))

/* The name of a type in the signature language ("i64", "f64[]"); "?" if
 * unknown. */
DLP_API const char *dlp_type_name(dlp_type t);

/* The most arguments a signature may have. */
#define DLP_MAX_ARGS 32

/* A parsed signature. */
typedef struct dlp_sig {
    dlp_type ret;
    bool ret_owned; /* "str!": the function returns malloc'd memory */
    unsigned nargs;
    dlp_type args[DLP_MAX_ARGS];
} dlp_sig;

/*
 * Parse a signature such as "i64(i64, i64)" or "str!(str)".  On failure
 * returns DLP_ESIG and err names the column (1-based) and the problem.
 */
DLP_API int dlp_sig_parse(const char *text, dlp_sig *out, dlp_error *err);

/* Write the canonical text of a signature ("i64(i64,i64)") into buf.
 * Returns the length it needs, like snprintf. */
DLP_API int dlp_sig_format(const dlp_sig *sig, char *buf, size_t size);

/* ---- pools ----------------------------------------------------------- */

typedef struct dlp_pool dlp_pool;

typedef struct dlp_pool_options {
    /* Worker processes; 0 means the number of online CPUs. */
    unsigned workers;
    /* Directories searched for a plugin named without a '/', before the
     * installed plugin directory and the system's library search;
     * colon-separated.  NULL: the environment's DLPOOL_PLUGIN_PATH. */
    const char *plugin_path;
    /* Replace a worker after it has run this many tasks (Python's
     * maxtasksperchild); 0: never.  No task is lost by it. */
    unsigned max_tasks_per_worker;
    /* Address-space limit of each worker in bytes (setrlimit RLIMIT_AS);
     * 0: none.  A task over it sees allocations fail, or is killed. */
    uint64_t memory_limit;
    /* Restart intensity: when more than restart_intensity workers are lost
     * outside any task (while loading, idle, or before answering) within
     * restart_period seconds, the pool stops replacing workers and its jobs
     * fail with DLP_EWORKER.  0: the defaults, 20 in 1 second.  Losses a
     * running task is blamed for (a crash, a timeout) never count.  A
     * restart_period that is NaN, negative or over 1e9 s is refused
     * (DLP_EINVAL). */
    unsigned restart_intensity;
    double restart_period;
    /* Python's initializer and initargs: a function "PLUGIN:SYMBOL" run
     * once in every worker before its first task, also in every worker
     * that replaces a lost one, with the arguments in initargs (a list;
     * NULL: none; borrowed during dlp_pool_create).  Its result is
     * ignored.  If it fails (dlp_fail, a crash) dlp_pool_create fails with
     * DLP_EINIT naming it; a replacement worker whose initializer fails
     * is not replaced again.  initializer_sig: as dlp_pool_fn's sig. */
    const char *initializer;
    const char *initializer_sig;
    const dlp_val *initargs;
    /* Where the workers run.  DLP_TRANSPORT_LOCAL (0): processes forked
     * by this one.  DLP_TRANSPORT_MPI: on the other ranks of an MPI job,
     * usually other machines; this must be rank 0, and every other rank
     * calls dlp_mpi_agent.  Then the pool has one worker slot per agent,
     * the other options here except plugin_path are the agents' (given to
     * dlp_mpi_agent), and an initializer is refused.  One MPI pool or
     * agent per process: MPI starts once. */
    unsigned transport;
} dlp_pool_options;

#define DLP_TRANSPORT_LOCAL 0u
#define DLP_TRANSPORT_MPI 1u

/* Fill opts with the defaults. */
DLP_API void dlp_pool_options_init(dlp_pool_options *opts);

/*
 * Create a pool and start its workers.  opts may be NULL for defaults.
 * *out is a new pool (release with dlp_pool_destroy), NULL on failure.
 * Workers are forks of the calling process: memory set up before this call
 * is visible in every worker.
 */
DLP_API int dlp_pool_create(dlp_pool **out, const dlp_pool_options *opts,
                            dlp_error *err);

/*
 * The other side of an MPI pool (DLP_TRANSPORT_MPI): on every rank but
 * 0, serve rank 0's pool with a pool of local workers made with opts
 * (NULL: defaults; transport must be local).  The first workers, and a
 * fork server that forks their replacements, are forked before MPI is
 * initialised, and the agent then runs in the calling thread, which
 * calls MPI itself: call this before MPI_Init, and dlpool initialises MPI
 * (and finalizes it before returning); a program that initialised MPI
 * itself calls this from the thread that did, or asked for
 * MPI_THREAD_SERIALIZED.  Returns 0 once rank 0's pool is destroyed, or an
 * error (DLP_EINVAL when this dlpool was built without MPI or this is not
 * such a rank).
 */
DLP_API int dlp_mpi_agent(const dlp_pool_options *opts, dlp_error *err);

/* Whether this process was started by an MPI launcher (mpirun, mpiexec),
 * read from the launcher's environment, so also before MPI_Init: 1 with
 * *rank and *size set, else 0. */
DLP_API int dlp_mpi_launched(int *rank, int *size);

/* The number of workers the pool runs. */
DLP_API unsigned dlp_pool_workers(const dlp_pool *pool);

/*
 * Make every call waiting on the pool (dlp_job_next, dlp_pool_fn) return
 * -EINTR promptly, once.  Async-signal-safe: meant for a SIGINT or SIGTERM
 * handler.  Workers are not touched; after it the caller decides (go on,
 * read what is ready with dlp_job_poll, or destroy the pool).
 */
DLP_API void dlp_pool_interrupt(dlp_pool *pool);

/*
 * Resolve a function "PLUGIN:SYMBOL" in every worker.  sig is its signature
 * when the plugin's manifest has no entry for SYMBOL (for a plain shared
 * library such as libm.so.6), or NULL.  Returns a function id (>= 0) for
 * dlp_job_create(), or a negative code; err names the plugin and symbol.
 * Plugin code runs only in the workers, never in the calling process.
 * Resolving the same reference twice returns the same id.
 */
DLP_API int dlp_pool_fn(dlp_pool *pool, const char *ref, const char *sig,
                        dlp_error *err);

/* The signature of a resolved function; NULL for an unknown id.  Borrowed:
 * valid until the pool is destroyed. */
DLP_API const dlp_sig *dlp_pool_fn_sig(dlp_pool *pool, int fn);

/*
 * Close the pool: nothing new may be started on it (dlp_pool_fn,
 * dlp_job_create, dlp_apply_async, ... return DLP_ECLOSED).  Jobs and
 * futures already started run to their end.
 */
DLP_API int dlp_pool_close(dlp_pool *pool);

/*
 * Python's join: after dlp_pool_close, wait for every future to complete
 * (running their callbacks), then stop the workers (each runs its plugins'
 * fini hooks) and reap them.  DLP_EINVAL if the pool is not closed,
 * -EBUSY if a job made with dlp_job_create is still open (destroy it
 * first: its reader drives it, join cannot).  timeout in seconds, < 0 for
 * none: -ETIMEDOUT leaves the pool as it was.  The pool must still be
 * destroyed.
 */
DLP_API int dlp_pool_join(dlp_pool *pool, double timeout, dlp_error *err);

/*
 * Python's terminate: close the pool and kill every worker now.  Every
 * task not yet finished fails (DLP_FAIL_CANCELLED, "the pool was
 * terminated"); open jobs fail with DLP_EWORKER.  Returns at once, with
 * the workers reaped.
 */
DLP_API void dlp_pool_terminate(dlp_pool *pool);

/*
 * concurrent.futures' shutdown: close the pool; with cancel_futures, every
 * future none of whose tasks has started is cancelled; then join.
 */
DLP_API int dlp_pool_shutdown(dlp_pool *pool, bool cancel_futures,
                              dlp_error *err);

/*
 * Terminate the workers, reap them, and free the pool (the context
 * manager's exit: terminate + join + free).  Never hangs: a worker that
 * does not leave when its channel closes is killed.  Accepts NULL; a
 * second destroy does nothing.
 *
 * Jobs and futures may still be open.  Then their work ends as with
 * dlp_pool_terminate: every unfinished task of a future fails
 * (DLP_FAIL_CANCELLED, "the pool was destroyed"), dlp_job_next returns
 * DLP_EWORKER once a job's finished results are handed out, the workers
 * are stopped now, and the pool is no longer a pool for any call.  The
 * jobs and futures stay usable for reading what they hold, and must
 * still be destroyed: the last of those destroys frees the pool's memory.
 */
DLP_API void dlp_pool_destroy(dlp_pool *pool);

/* ---- arguments ------------------------------------------------------- */

/* The argument tuple of one task, filled by the job's iterator with one
 * dlp_args_* call per argument, in order.  A value is converted to the
 * signature's type; one that does not fit (out of range, wrong kind, a NUL
 * inside a str) marks the task as bad input: the task fails alone with a
 * message, and the job goes on. */
typedef struct dlp_args dlp_args;

DLP_API int dlp_args_int(dlp_args *a, int64_t v);
DLP_API int dlp_args_uint(dlp_args *a, uint64_t v);
DLP_API int dlp_args_double(dlp_args *a, double v);
DLP_API int dlp_args_bool(dlp_args *a, bool v);
/* A string of len bytes (copied); for str or bytes arguments. */
DLP_API int dlp_args_str(dlp_args *a, const char *s, size_t len);
DLP_API int dlp_args_bytes(dlp_args *a, const void *p, size_t len);
/* An array argument (T[]) from n elements of C type elem (a numeric
 * dlp_type) at data, copied; elements are converted to the signature's
 * element type and each checked for range.  For a val argument, a list. */
DLP_API int dlp_args_array(dlp_args *a, dlp_type elem, const void *data,
                           size_t n);
/* One argument from a value (copied): any value for a val argument; for
 * the others the value's kind converts as the dlp_args_* call of that
 * kind would (a list of numbers for an array). */
DLP_API int dlp_args_val(dlp_args *a, const dlp_val *v);
/* Every argument of the task from a list, item by item (dlp_args_val). */
DLP_API int dlp_args_tuple(dlp_args *a, const dlp_val *list);
/* Mark the task as bad input with a message (printf format).  The first
 * message of a task is kept.  Always returns DLP_EINVAL. */
DLP_API int dlp_args_fail(dlp_args *a, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The type the next argument must have; DLP_T_VOID once all are given. */
DLP_API dlp_type dlp_args_next_type(const dlp_args *a);

/* ---- jobs ------------------------------------------------------------ */

typedef struct dlp_job dlp_job;

/*
 * The iterator of a job: fill args for task number index (0, 1, 2, ...) and
 * return 1, or return 0 when there are no more tasks, or a negative code to
 * stop the job with that error, or DLP_ITER_PAUSE when no task is ready yet
 * (args untouched): the job then sends the tasks it holds at once, hands
 * out results as they come, and calls again once the job's wait_fd is
 * readable (without DLP_JOB_WAIT_FD: after the next results arrive).
 * Called lazily, only from the thread that calls dlp_job_next() on the
 * job, never more than the job's window ahead of the results handed out.
 */
typedef int (*dlp_iter_fn)(void *ud, uint64_t index, dlp_args *args);

#define DLP_ITER_PAUSE 2

/* Job flags. */
#define DLP_JOB_UNORDERED 0x1u /* hand results out as they finish */
#define DLP_JOB_WAIT_FD 0x2u   /* poll opts.wait_fd while paused */
#define DLP_JOB_TIMES 0x4u     /* fill dlp_result.start and .run_time */

typedef struct dlp_job_options {
    unsigned flags;
    /* Most tasks in flight (read from the iterator and not yet handed out).
     * 0: automatic.  This bounds the memory the job uses. */
    unsigned window;
    /* With DLP_JOB_WAIT_FD: a descriptor the iterator reads from, polled
     * while the iterator is paused (DLP_ITER_PAUSE). */
    int wait_fd;
    /* Per task: a task running longer than this many seconds has its
     * worker killed and fails with DLP_FAIL_TIMEOUT.  0: no limit; < 0 or
     * NaN: DLP_EINVAL.  It is enforced while some thread waits on the
     * pool. */
    double timeout;
    /* A task whose worker died under it (a crash, a kill, a timeout) is
     * run again, on another worker process, up to this many times.  Plugin
     * errors and bad input are never retried. */
    unsigned retries;
    /* Python's chunksize: tasks per batch sent to a worker.  0: automatic
     * (about 1 ms of work per batch, measured as the job runs: tiny tasks
     * go thousands at a time, slow ones one at a time). */
    unsigned chunksize;
} dlp_job_options;

/* Fill opts with the defaults. */
DLP_API void dlp_job_options_init(dlp_job_options *opts);

/*
 * Start a job that maps function fn over the tuples next() produces.
 * opts may be NULL.  *out is a new job (release with dlp_job_destroy).
 * Returns DLP_ECLOSED after dlp_pool_close().
 */
DLP_API int dlp_job_create(dlp_job **out, dlp_pool *pool, int fn,
                           dlp_iter_fn next, void *ud,
                           const dlp_job_options *opts, dlp_error *err);

/* How a task failed.  Values are part of the ABI. */
typedef enum dlp_fail_kind {
    DLP_FAIL_NONE = 0, /* the task succeeded */
    DLP_FAIL_PLUGIN,   /* the function called dlp_fail() */
    DLP_FAIL_INPUT,    /* bad input: the task never ran */
    DLP_FAIL_SIGNAL,   /* the worker was killed by a signal (result.signo) */
    DLP_FAIL_EXIT,     /* the worker exited (result.exit_status) */
    DLP_FAIL_RESULT,   /* the result could not be carried back */
    DLP_FAIL_WORKER,   /* the worker was lost for another reason */
    DLP_FAIL_TIMEOUT,  /* the task ran past the job's timeout */
    DLP_FAIL_CANCELLED /* the task was cancelled before it started, or
                          the pool was terminated under it */
} dlp_fail_kind;

/* A short name of a failure kind ("signal", "timeout", ...); static. */
DLP_API const char *dlp_fail_kind_name(dlp_fail_kind kind);

/* The result of one task.  Pointers in it are borrowed: valid until the
 * next dlp_job_next() or dlp_job_destroy() on the same job. */
typedef struct dlp_result {
    uint64_t index;     /* the task's position, 0-based */
    dlp_fail_kind fail; /* DLP_FAIL_NONE on success */
    dlp_type type;      /* the signature's return type */
    union {
        int64_t i; /* i8 .. i64 */
        uint64_t u; /* u8 .. u64 */
        double f;  /* f32, f64 */
        bool b;
        struct {
            const char *ptr; /* NUL-terminated as well */
            size_t len;
        } s; /* str */
        const dlp_val *val; /* val: a tree, never NULL (null is a node) */
    } v;
    const char *error; /* on failure: a one-line message */
    int signo;         /* DLP_FAIL_SIGNAL: the signal */
    int exit_status;   /* DLP_FAIL_EXIT: the status */
    unsigned attempts; /* times the task was started (1 + retries used);
                          0 for a task that never ran (bad input) */
    int pid;           /* the worker process that ran it (or died running
                          it); 0 when none did */
    /* With DLP_JOB_TIMES: when the task's last attempt started, in seconds
     * since the Epoch, and how long it ran, in seconds (to its result, or
     * to its worker's death or timeout).  Both 0 without the flag and for
     * a task that never ran. */
    double start;
    double run_time;
} dlp_result;

/*
 * Wait for the next result of the job.  Returns 1 with *res filled, 0 when
 * every task has been handed out, or a negative code: the iterator's (once
 * every task it produced before failing has been handed out), or a pool
 * failure; err says what.  A job is read by one thread at a time.
 */
DLP_API int dlp_job_next(dlp_job *job, dlp_result *res, dlp_error *err);

/*
 * IMapIterator.next(timeout): dlp_job_next waiting at most timeout seconds
 * (< 0: no limit) for the next result; -ETIMEDOUT when none came in time
 * (call again to go on waiting: nothing is lost).
 */
DLP_API int dlp_job_next_timeout(dlp_job *job, dlp_result *res,
                                 double timeout, dlp_error *err);

/*
 * Like dlp_job_next, but never waits and never calls the iterator: 1 and a
 * result that is ready now, 0 when every task has been handed out, or
 * -EAGAIN when none is ready yet.  For handing out what has finished after
 * dlp_pool_interrupt.
 */
DLP_API int dlp_job_poll(dlp_job *job, dlp_result *res, dlp_error *err);

/* Counts of a job's tasks. */
typedef struct dlp_job_counts {
    uint64_t pulled;    /* produced by the iterator so far */
    uint64_t delivered; /* handed out */
} dlp_job_counts;

DLP_API void dlp_job_counts_get(const dlp_job *job, dlp_job_counts *out);

/* Stop the job and free it: tasks not yet run are dropped, and a task of
 * the job still running is stopped (its worker is killed and replaced).
 * Accepts NULL; a second destroy does nothing. */
DLP_API void dlp_job_destroy(dlp_job *job);

/* ---- futures: apply, map, broadcast ----------------------------------
 *
 * A future is a call (or a map of calls) already sent to the pool; it
 * completes when every one of its tasks has a result.  Its arguments are
 * encoded when it is made, so the caller's values may be freed at once.
 * Work goes on while some thread waits on the pool (any wait below, or
 * dlp_job_next): dlpool starts no thread of its own.  Calls are sent to
 * the workers in the order they were made.
 */
typedef struct dlp_future dlp_future;

/* A completion callback: runs once, when the future completes (success
 * or not), in a thread that is waiting on the pool (dlp_future_wait,
 * dlp_future_get, dlp_wait, dlp_apply, dlp_map, dlp_pool_join), with no
 * lock held.  It may call any dlpool function, including waiting on other
 * futures and destroying this one: the waits on it, in this thread or
 * others, then end (dlp_future_get with DLP_EINVAL: its results are
 * gone), and its memory is freed when the last of them returns.
 * Callbacks run one at a time per waiting thread; keep them short, as
 * Python's do. */
typedef void (*dlp_future_cb)(dlp_future *f, void *ud);

typedef struct dlp_call_options {
    double timeout;       /* per task, as dlp_job_options.timeout */
    unsigned retries;     /* as dlp_job_options.retries */
    dlp_future_cb callback; /* NULL: none */
    void *callback_ud;
} dlp_call_options;

DLP_API void dlp_call_options_init(dlp_call_options *opts);

/*
 * apply_async: call fn once with the arguments in args (a list, borrowed:
 * encoded before return).  opts may be NULL.  *out is a new future
 * (release with dlp_future_destroy).  Arguments that do not fit the
 * signature are not an error here: the task fails with DLP_FAIL_INPUT.
 * Returns DLP_ECLOSED after dlp_pool_close.
 */
DLP_API int dlp_apply_async(dlp_future **out, dlp_pool *pool, int fn,
                            const dlp_val *args,
                            const dlp_call_options *opts, dlp_error *err);

/*
 * map_async / starmap_async: call fn once per argument list args[0..n-1]
 * (each a list; borrowed).  Results are in input order:
 * dlp_future_result(f, i).  At most 2^24 tasks per call; for more, or for
 * input produced lazily, use a job.
 */
DLP_API int dlp_map_async(dlp_future **out, dlp_pool *pool, int fn,
                          const dlp_val *const *args, size_t n,
                          const dlp_call_options *opts, dlp_error *err);

/*
 * Run fn once on every live worker with the same arguments: one task per
 * worker, result i from worker dlp_result.pid.  For reading worker state
 * (counters, caches) and setting it.  A worker lost before running it
 * gives that task DLP_FAIL_WORKER; the task is never sent elsewhere.
 * DLP_EINVAL on an MPI pool, whose workers are the agents'.
 */
DLP_API int dlp_broadcast(dlp_future **out, dlp_pool *pool, int fn,
                          const dlp_val *args, const dlp_call_options *opts,
                          dlp_error *err);

/* Wait until the future completes: 0, or -ETIMEDOUT after timeout seconds
 * (< 0: no limit), -EINTR after dlp_pool_interrupt, DLP_EINVAL if another
 * thread destroys it before it completes. */
DLP_API int dlp_future_wait(dlp_future *f, double timeout);

/* Has it completed?  Reads what has arrived; never waits. */
DLP_API bool dlp_future_ready(dlp_future *f);

/* Completed, and every task succeeded. */
DLP_API bool dlp_future_successful(dlp_future *f);

/* Tasks in the future: 1 for apply, n for map, the workers for
 * broadcast. */
DLP_API size_t dlp_future_count(const dlp_future *f);

/*
 * The result of task i of a completed future: 0 and *res (pointers in it
 * are borrowed: valid until dlp_future_destroy), -EAGAIN if that task has
 * no result yet, DLP_EINVAL if i is out of range.
 */
DLP_API int dlp_future_result(dlp_future *f, size_t i, dlp_result *res);

/*
 * AsyncResult.get(timeout): wait, then 0 and the first task's result in
 * *res; if a task failed, DLP_ETASK with that task's result in *res and
 * err naming its index and error; -ETIMEDOUT; DLP_EINVAL if the future
 * was destroyed while waited on (by its callback, say).
 */
DLP_API int dlp_future_get(dlp_future *f, double timeout, dlp_result *res,
                           dlp_error *err);

/*
 * Cancel a future none of whose tasks has started: 0 (it completes at
 * once, every task DLP_FAIL_CANCELLED; its callback runs), or -EBUSY if
 * a task has started or finished (then nothing changes).
 */
DLP_API int dlp_future_cancel(dlp_future *f);

/* Free a future.  A task of it not yet started is dropped; one still
 * running is stopped (its worker is killed and replaced, as for
 * dlp_job_destroy).  Accepts NULL; a second destroy does nothing.  While
 * another thread is inside a call on it (a wait) the memory stays until
 * that call returns; the handle is gone at once. */
DLP_API void dlp_future_destroy(dlp_future *f);

#define DLP_WAIT_ANY 0u /* FIRST_COMPLETED */
#define DLP_WAIT_ALL 1u /* ALL_COMPLETED */

/*
 * concurrent.futures.wait: wait until any (DLP_WAIT_ANY) or all
 * (DLP_WAIT_ALL) of the n futures (all of one pool) have completed.
 * Returns the index of a completed future (for ALL: 0), -ETIMEDOUT,
 * -EINTR, or DLP_EINVAL.  A future destroyed during the wait (by its
 * callback, say) counts as completed.  Call again with the rest for
 * as_completed.
 */
DLP_API int dlp_wait(dlp_future *const *fs, size_t n, unsigned how,
                     double timeout);

/*
 * apply: call fn once and wait.  0 and *out, the result as a new value
 * (free it with dlp_val_free; a void function gives null); on a task
 * failure DLP_ETASK and err says why (*out is NULL).
 */
DLP_API int dlp_apply(dlp_pool *pool, int fn, const dlp_val *args,
                      dlp_val **out, dlp_error *err);

/*
 * map / starmap: call fn once per argument list and wait for all.  0 and
 * out[0..n-1], new values (free each with dlp_val_free); if a task
 * failed, DLP_ETASK, err names the first failed index and why, and every
 * out[i] is NULL.
 */
DLP_API int dlp_map(dlp_pool *pool, int fn, const dlp_val *const *args,
                    size_t n, dlp_val **out, dlp_error *err);

/* A result's value as a new dlp_val (NULL when out of memory or the task
 * failed): integers as INT/UINT, floats, bool, str, a copy of a val,
 * null for void. */
DLP_API dlp_val *dlp_result_value(const dlp_result *res);

/* ---- processes ------------------------------------------------------ */

/*
 * A process runs one plugin function of signature "i32(chan)" with one end
 * of a duplex channel of values (dlpool/val.h); the caller holds the other
 * end.  This is Python's Process(target=f, args=(child_pipe,)) with
 * Pipe(duplex=True), without its end-of-file trap: the process holds its
 * own end of the channel and nothing else of the caller's (standard input
 * reads /dev/null, standard output goes to standard error), so when the
 * caller closes its end (dlp_chan_close) the function's dlp_chan_recv
 * returns 0 once it has read every value sent before, and when the
 * function returns, the caller's dlp_chan_recv returns 0.
 *
 * The process is a fork of the caller: memory set up before the start is
 * there in the process, as it is in a pool's workers.  It runs in a process
 * group of its own with default signal handling.  The function's return
 * value, & 255, becomes its exit status, after the plugin's fini hook has
 * run and standard output and error are flushed.
 *
 * When the caller's process dies, its end of the channel closes: the
 * function's dlp_chan_recv returns 0 and its dlp_chan_send -EPIPE.  A
 * function that does neither runs until it returns, so a long-running one
 * should read its channel.  A process is not a task of a pool: dlp_job_create
 * refuses i32(chan) functions.
 *
 * A dlp_process may be used from several threads at once (join, alive,
 * kill and pid), except dlp_process_destroy, which must be the last call;
 * its channel is used by one thread at a time.  Added in 0.1.
 */
typedef struct dlp_process dlp_process;

/*
 * Start the function ref ("PLUGIN:SYMBOL") in a new process.  plugin_path
 * is as for dlp_pool_options (NULL: the environment's DLPOOL_PLUGIN_PATH).
 * Returns once the process has loaded the plugin, run its init hook and
 * resolved the symbol; *out is then a new process (release it with
 * dlp_process_destroy), and NULL on failure.  A load error is returned
 * here, with err naming the plugin path and the symbol, and the process is
 * already reaped: DLP_ENOPLUGIN (not loadable, or the process died while
 * loading it), DLP_ENOSYM (no such function), DLP_ENOSIG (a symbol without
 * a manifest entry: a process function must be declared in the manifest),
 * DLP_ESIG (err names the signature, which is not i32(chan)), DLP_EABI,
 * DLP_EINIT; DLP_EINVAL for a reference that is not PLUGIN:SYMBOL; -errno
 * when the channel or the process cannot be made.  Waits without bound
 * for a plugin's init hook.  The caller should not ignore SIGCHLD (the
 * exit status would be lost).
 */
DLP_API int dlp_process_start(dlp_process **out, const char *ref,
                              const char *plugin_path, dlp_error *err);

/* The caller's end of the process's channel.  Borrowed: valid until
 * dlp_process_destroy.  NULL for NULL. */
DLP_API dlp_chan *dlp_process_chan(dlp_process *p);

/* The process id (it stays the process's until it is reaped by join,
 * alive or destroy); -1 for NULL. */
DLP_API pid_t dlp_process_pid(const dlp_process *p);

/*
 * Wait for the process to end, up to timeout seconds (< 0: without
 * limit; 0: just look; NaN: DLP_EINVAL), and reap it.  Returns 0 with
 * *status (may be NULL) set to its wait status (WIFEXITED with the
 * function's return value & 255 as WEXITSTATUS, or WIFSIGNALED),
 * -ETIMEDOUT when it still runs (the process is untouched), or -ECHILD
 * when it was reaped elsewhere (SIGCHLD ignored).  Once the process has
 * ended every call returns the same status.
 */
DLP_API int dlp_process_join(dlp_process *p, double timeout, int *status,
                             dlp_error *err);

/* 1 while the process runs, 0 once it has ended (it is then reaped; join
 * still gives its status).  0 for NULL. */
DLP_API int dlp_process_alive(dlp_process *p);

/*
 * Send signal signo to the process: SIGTERM is Python's terminate(),
 * SIGKILL its kill().  Only the process is signalled, not processes it
 * started.  Returns 0 (also when the process has ended already: a reaped
 * process is never signalled, so the signal cannot reach another process
 * that reuses its id), or DLP_EINVAL for a bad signal number.
 */
DLP_API int dlp_process_kill(dlp_process *p, int signo);

/*
 * Close the caller's end of the channel, give the process 100 ms to end
 * (a function that reads its channel sees end of file and returns), then
 * kill it with SIGKILL, reap it and free p.  Never hangs.  Accepts NULL.
 * The exit status is not reported: join first to have it.
 */
DLP_API void dlp_process_destroy(dlp_process *p);

/* ---- plugins --------------------------------------------------------- */

/* One function of a plugin, as dlp_plugin_inspect() reports it. */
typedef void (*dlp_inspect_fn)(void *ud, const char *name, const char *sig);

/*
 * Load a plugin in a short-lived child process and report its manifest:
 * *plugin_name and *abi receive the plugin's name (new string, free() it)
 * and manifest ABI, and fn() is called once per function.  plugin_path is
 * as for dlp_pool_options (NULL: DLPOOL_PLUGIN_PATH).
 */
DLP_API int dlp_plugin_inspect(const char *plugin, const char *plugin_path,
                               char **plugin_name, unsigned *abi,
                               dlp_inspect_fn fn, void *ud, dlp_error *err);

#ifdef __cplusplus
}
#endif
#endif /* DLPOOL_H */
