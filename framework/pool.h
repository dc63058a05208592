/*
 * pool.h - the pool's internal state, shared by pool.c (workers, the event
 * loop) and job.c (jobs, the feeder and the reorder window).
 *
 * Locking: pool->mu guards everything in struct dlp_pool, every worker,
 * every batch and the parts of a job marked (mu).  One thread at a time
 * "drives" (polls the channels with mu released); the others wait on cv.
 * A job's iterator is called with mu released, by the job's reader thread
 * only; the fields it touches are marked (owner).
 */
#ifndef DLPOOL_FRAMEWORK_POOL_H
#define DLPOOL_FRAMEWORK_POOL_H

#include <pthread.h>
#include <sys/types.h>

#include "common.h"
#include "forkserver.h"
#include "wire.h"
#include "worker.h"

/* One outbound frame and what the worker still owes for it.  Replies come
 * back in the order frames were sent, so the head of a worker's queue is
 * always the frame the next reply answers. */
typedef struct dlp__batch {
    struct dlp__batch *next;
    int init;              /* the initializer's call, not a job's */
    uint16_t type;         /* DLP_F_BATCH or DLP_F_LOAD */
    uint32_t job_id, fn;
    struct dlp_job *job;   /* NULL once the job is gone: results dropped */
    struct dlp__relayed *relay; /* an agent's batch relayed as it came
                                   (agent.c): no job; its results and its
                                   loss go to the agent */
    uint64_t timeout_ns;   /* a relayed batch's per-task timeout, 0: none */
    uint32_t count, done;  /* tasks in the frame, results received */
    size_t scan;           /* offset of the next task record to answer */
    dlp__buf frame;        /* header + payload, ready to send */
} dlp__batch;

typedef struct dlp__worker {
    pid_t pid;
    int fd;               /* -1 when the slot has no live worker */
    unsigned serial;      /* how many workers this slot has had */
    dlp__batch *head, *tail; /* outstanding frames, in send order */
    dlp__batch *send;     /* first frame not wholly written */
    size_t send_off;      /* bytes of *send already written */
    unsigned nbatches;    /* task batches outstanding */
    dlp__score *score;    /* this slot's entry in the pool's scoreboard */
    int retired;          /* the slot is down for good */
    uint64_t answered;    /* job tasks this worker has answered */
    uint64_t kill_seq;    /* killed for a timeout while running task seq */
    uint64_t kill_after_ns; /* the timeout it ran past */
    dlp__buf in;          /* bytes read, not yet a whole frame */
    int link;             /* a link to an agent, not a forked worker
                             (transport.h): pid is 0, and it is never
                             killed, reaped or replaced */
    int by_server;        /* forked by the pool's fork server */
} dlp__worker;

enum { DLP_FN_LOADING, DLP_FN_OK, DLP_FN_FAILED };

typedef struct dlp__fnent {
    char *ref, *sig_given, *path, *symbol;
    int state;
    unsigned pending; /* workers that have not answered the LOAD */
    int code;
    char msg[512];
    dlp_sig sig;
} dlp__fnent;

struct dlp_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int driving;
    int wakefd; /* eventfd: wakes the driver when others queue output */
    int closed, destroying, respawning;
    int broken;      /* past the restart intensity: no more respawns */
    int interrupted; /* dlp_pool_interrupt was called (atomic) */
    dlp__wopts wopts;
    unsigned restart_intensity;
    uint64_t restart_period_ns;
    uint64_t *loss_times; /* ring of the last restart_intensity losses */
    uint64_t nlosses;
    unsigned nworkers;
    dlp__worker *w;
    dlp__score *scores; /* MAP_SHARED, one entry per worker slot */
    dlp__fnent **fns; /* entries never move: dlp_pool_fn_sig points in */
    size_t nfns, capfns;
    char last_loss[512]; /* why the last worker was lost, for messages */
    uint32_t next_job;
    char *plugin_path;
    /* Futures: internal jobs, the ones with tasks still to send, and the
     * completion callbacks waiting for a thread to run them. */
    struct dlp_job *internal_jobs, *feedq, *feedq_tail;
    struct dlp_future *cbq_head, *cbq_tail;
    unsigned open_jobs;  /* jobs made with dlp_job_create, not destroyed */
    int terminated, joined;
    /* dlp_pool_destroy was called while jobs or futures were open: the
     * workers are stopped, and the destroy of the last of those frees the
     * pool (dlp__pool_free). */
    int destroyed;
    int stopping; /* stop_workers waits for the driver: start no step */
    /* Threads running completion callbacks now (future.c). */
    struct dlp__cb_running *cb_running;
    /* The initializer: a function id (-1: none) and its encoded call. */
    int init_fn;
    dlp__buf init_args;
    int init_failed;
    char init_msg[512];
    /* The MPI transport's bridge (mpi.c), joined when the pool is
     * destroyed; NULL for other pools. */
    struct dlp__bridge *bridge;
    /* An agent's fork server (mpi.c): forks the replacements of this
     * pool's workers, and reaps them, in a process that may not fork. */
    dlp__fsrv *fsrv;
    /* Batches answered, kept with their frames' memory for the next ones
     * (fresh memory faults its pages in, and the allocator hands large
     * blocks back to the system when they are freed). */
    dlp__batch *spare_batches;
    unsigned nspare_batches;
};

/* Tasks encoded in advance (a future's): task i is the len bytes at off in
 * bytes, or bad input with the message bad[i]. */
typedef struct dlp__pre {
    size_t n;
    dlp__buf bytes;
    struct dlp__pre_task {
        size_t off, len;
        unsigned attempts; /* made before, elsewhere (retries used) */
    } *task;
    char **bad; /* NULL when no task is bad */
} dlp__pre;

/* Encode n argument lists for signature sig.  With same, only tuples[0]
 * is encoded and every task uses it (a broadcast).  A list that does not
 * fit the signature makes its task bad input, not an error.  Returns 0 or
 * -ENOMEM. */
DLP_PRIV int dlp__pre_encode(dlp__pre *pre, const dlp_sig *sig,
                             const dlp_val *const *tuples, size_t n,
                             int same);
DLP_PRIV void dlp__pre_free(dlp__pre *pre);

/* One task's arguments from iterator next, as a job takes them (next
 * called for index, then the job's checks), appended to b.  Returns what
 * next returned; when 1, msg (size bytes) holds the message of a task
 * that is bad input, and then nothing is appended, else "".  For the
 * tests and tests/fuzz: a job sends the same bytes in a BATCH. */
DLP_PRIV int dlp__job_args(const dlp_sig *sig, dlp_iter_fn next, void *ud,
                           uint64_t index, dlp__buf *b, char *msg,
                           size_t size);

/* Make an internal job of function fn over pre (taken over, also on
 * failure) and start sending it: to every live worker once for pinned
 * (then pre has one task per live worker, see dlp__pool_live_slots).
 * flags are job flags (DLP_JOB_TIMES), chunksize the job option (0:
 * automatic); f, if not NULL, is told of
 * completion through dlp__future_complete.  mu NOT held. */
DLP_PRIV int dlp__job_internal(struct dlp_job **out, dlp_pool *p, int fn,
                               dlp__pre *pre, double timeout,
                               unsigned retries, int pinned, unsigned flags,
                               unsigned chunksize, struct dlp_future *f,
                               dlp_error *err);
/* Internal jobs, mu held: tasks in all, done so far, a view of result i
 * (borrowed, valid while the job lives). */
DLP_PRIV uint64_t dlp__job_total(const struct dlp_job *j);
DLP_PRIV uint64_t dlp__job_done(const struct dlp_job *j);
DLP_PRIV int dlp__job_view(struct dlp_job *j, uint64_t i, dlp_result *res);
/* Cancel an internal job none of whose tasks has started: 0, or -EBUSY
 * when one has (then nothing changes).  mu held. */
DLP_PRIV int dlp__job_cancel(struct dlp_job *j);
/* Fail every task of an internal job that has not finished.  mu held. */
DLP_PRIV void dlp__job_abort(struct dlp_job *j, dlp_fail_kind kind,
                             const char *why);
/* The next in the pool's list of internal jobs; whether j was
 * cancelled.  mu held. */
DLP_PRIV struct dlp_job *dlp__job_next_internal(const struct dlp_job *j);
DLP_PRIV int dlp__job_cancelled(const struct dlp_job *j);
/* The job's future is going away: tell it nothing more.  mu held. */
DLP_PRIV void dlp__job_forget_future(struct dlp_job *j);
/* Feed the internal jobs that have tasks to send.  mu held. */
DLP_PRIV void dlp__pool_pump(dlp_pool *p);
/* An internal job finished its last task.  mu held. */
DLP_PRIV void dlp__future_complete(struct dlp_future *f);
/* Close every channel and reap every worker (killing them first with
 * kill_now, else after a grace period); no worker is replaced after it.
 * Waits for the driving thread to step aside.  mu held. */
DLP_PRIV void dlp__pool_stop_workers(dlp_pool *p, int kill_now);
/* End the pool's work, as terminate and a destroy with jobs open do: no
 * more tasks, every future's unfinished task cancelled with why (also the
 * pool's last loss, which jobs report), the workers stopped (kill_now as
 * above).  mu held. */
DLP_PRIV void dlp__pool_end(dlp_pool *p, const char *why, int kill_now);
/* Free a pool whose workers are stopped (its lifecycle is in
 * dlp_pool_destroy).  mu not held. */
DLP_PRIV void dlp__pool_free(dlp_pool *p);
/* Live workers, in slot order, into slots (room for nworkers). */
DLP_PRIV unsigned dlp__pool_live_slots(dlp_pool *p, unsigned *slots);

/* Queue frame b on worker w and try to write it now. */
DLP_PRIV void dlp__pool_send(dlp_pool *p, dlp__worker *w, dlp__batch *b);

/* The live worker with the fewest task batches outstanding, if it has
 * fewer than limit (a link: limit * DLP_LINK_DEPTH); NULL otherwise. */
DLP_PRIV dlp__worker *dlp__pool_pick(dlp_pool *p, unsigned limit);

/* Workers that are alive. */
DLP_PRIV unsigned dlp__pool_alive(dlp_pool *p);

/* One step of the event loop: poll the channels (mu released meanwhile),
 * and extra_fd too if it is not -1, read and dispatch replies, write
 * pending frames.  If another thread is driving, wait for it to finish a
 * step instead (at most 10 ms when extra_fd is given).  With nowait, only
 * what is ready now is handled.  Returns 1 if extra_fd may be readable.
 * mu is held on entry and on return. */
DLP_PRIV int dlp__pool_drive(dlp_pool *p, int extra_fd, int nowait);
/* The same, waiting no later than deadline_ns (dlp__now_ns clock; 0: no
 * deadline, 1: do not wait). */
DLP_PRIV int dlp__pool_drive_until(dlp_pool *p, int extra_fd,
                                   uint64_t deadline_ns);

/* The deadline for dlp__pool_drive_until of a timeout in seconds; a
 * negative timeout is none (0). */
DLP_PRIV uint64_t dlp__pool_deadline(double timeout);

/* Wake the thread driving the loop out of its poll (the pool's eventfd).
 * Async-signal-safe. */
DLP_PRIV void dlp__pool_wake(dlp_pool *p);

/* Job side, called by the loop with mu held. */
DLP_PRIV void dlp__job_result(struct dlp_job *j, uint64_t index, int kind,
                              const unsigned char *payload, uint32_t len,
                              pid_t pid);
DLP_PRIV void dlp__job_lost(struct dlp_job *j, uint64_t index,
                            dlp_fail_kind kind, int code,
                            const char *reason, pid_t pid);
/* Take over the unanswered tasks of a lost worker's batch b and send them
 * again, except task skip when have_skip is set (it was running when the
 * worker died).  Returns 1 if skip was found and left out. */
DLP_PRIV int dlp__job_requeue(struct dlp_job *j, dlp__batch *b,
                              int have_skip, uint64_t skip);
DLP_PRIV void dlp__job_timing(struct dlp_job *j, uint32_t n,
                              uint64_t busy_ns);
/* With DLP_JOB_TIMES: record when task index started (CLOCK_REALTIME ns)
 * and how long it ran, before its dlp__job_result or dlp__job_lost. */
DLP_PRIV void dlp__job_stamp(struct dlp_job *j, uint64_t index,
                             uint64_t start_ns, uint64_t run_ns);
/* Whether the job asked for DLP_JOB_TIMES. */
DLP_PRIV int dlp__job_timed(const struct dlp_job *j);
/* The job's retries (dlp_job_options.retries). */
DLP_PRIV unsigned dlp__job_retries(const struct dlp_job *j);
/* The job's per-task timeout in ns, 0 for none. */
DLP_PRIV uint64_t dlp__job_timeout_ns(const struct dlp_job *j);
/* The running task index of job j died with its worker: return 1 (and
 * count the attempt) if it is to run again. */
DLP_PRIV int dlp__job_retry(struct dlp_job *j, uint64_t index);
/* Task index took attempts (>= 1) where it ran (an agent's retries), as
 * well as those made here. */
DLP_PRIV void dlp__job_attempts(struct dlp_job *j, uint64_t index,
                                uint32_t attempts);

DLP_PRIV void dlp__batch_free(dlp__batch *b);
/* A batch, zeroed but for its frame's memory (empty): a spare one if the
 * pool has one; NULL if out of memory.  Keep b as a spare, or free it.
 * mu held for both. */
DLP_PRIV dlp__batch *dlp__batch_take(dlp_pool *p);
DLP_PRIV void dlp__batch_recycle(dlp_pool *p, dlp__batch *b);

/* Relayed batches (agent.c), called by the loop with mu held.  A RESULTS
 * frame for b from worker pid, its records checked against b's tasks: */
DLP_PRIV void dlp__relay_results(dlp__batch *b, const dlp__hdr *h,
                                 const unsigned char *payload, pid_t pid);
/* b's worker is gone with tasks of b unanswered (from b->scan on), b to
 * be freed by the caller.  With running set, task index was running and
 * failed as kind (status, reason, the worker's pid), having started at
 * start_mono (dlp__now_ns clock, 0 unknown).  Returns 1 if it took the
 * blame for that task (it was in b). */
typedef struct dlp__relay_loss {
    int running;
    uint64_t index, start_mono;
    dlp_fail_kind kind;
    int status;
    const char *reason;
    pid_t pid;
} dlp__relay_loss;
DLP_PRIV int dlp__relay_lost(dlp__batch *b, const dlp__relay_loss *loss);

#endif
