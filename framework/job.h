/*
 * job.h - a job's state, shared by job.c (the feeder, the reorder window
 * and its results, batch sizing), joblife.c (made and destroyed) and
 * ijob.c (internal jobs); and job.c's functions.  The loop reaches a job
 * only through its batches' ops (batch.h) and the pool's jobs hooks
 * (pool.h).
 */
#ifndef DLPOOL_FRAMEWORK_JOB_H
#define DLPOOL_FRAMEWORK_JOB_H

#include "args.h"
#include "common.h"
#include "pool.h"

/* Batches a worker may hold at once: one running, one queued behind it,
 * so a worker never waits on a round trip, and a slow task delays at most
 * one batch that another worker could have taken. */
#define DLP_WORKER_DEPTH 2
/* Aim for batches of about this much work: long enough that per-batch
 * costs (two system calls and a wake-up, ~20-50 us) are a few percent,
 * short enough that two workers stay balanced. */
#define DLP_BATCH_TARGET_NS 1000000.0
/* A link's agent spreads a batch over its own workers, and pays for each
 * batch it is sent (a job of its own): give it ten times as much. */
#define DLP_LINK_BATCH_TARGET_NS 10000000.0
#define DLP_BATCH_MAX 4096u
/* A link's batches may be larger: each costs a wake-up at every hop (two
 * bridges, the agent, a worker), and of tiny tasks 8,192 ran 10% faster
 * over MPI than 4,096 (16,384 gained nothing: the default window holds
 * only four such batches). */
#define DLP_LINK_BATCH_MAX 8192u
/* A batch is also closed at this many bytes of arguments, so large
 * arguments travel a few at a time and no frame nears the 1 GiB limit. */
#define DLP_BATCH_BYTES (4u << 20)
/* The arguments of one task may take at most this much. */
#define DLP_TASK_ARGS_MAX (DLP_FRAME_MAX - DLP_BATCH_BYTES - 64)
#define DLP_WINDOW_DEFAULT 65536u
/* A str result this large reuses the buffer of one handed out before;
 * the job keeps up to DLP_SPARES such buffers, DLP_SPARE_BYTES in all:
 * about what the results of the batches in flight take when large. */
#define DLP_SPARE_MIN (64u << 10)
#define DLP_SPARES 64u
#define DLP_SPARE_BYTES ((size_t)64 << 20)

/* A slot of the reorder window: task index from the moment it is pulled
 * until its result is handed out. */
enum { SLOT_EMPTY = 0, SLOT_PENDING, SLOT_BAD, SLOT_DONE };

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
    char *spare[DLP_SPARES];
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
    double target_ns; /* DLP_BATCH_TARGET_NS, or DLP_LINK_BATCH_TARGET_NS */
    /* Internal jobs (futures: apply, map, broadcast): tasks encoded when
     * the job is made, fed by whichever thread drives the pool, results
     * kept in the ring until the job is destroyed.  (mu) */
    int internal, pinned, cancelled;
    uint32_t chunksize; /* fixed batch size, 0: automatic */
    dlp__pre pre;
    uint64_t ndone;
    /* Told when the last task has its result (internal jobs). */
    void (*done)(void *ud);
    void *done_ud;
    dlp__list feed; /* in the pool's queue of jobs to feed, if in_feedq */
    int in_feedq;
    dlp__list all; /* in the pool's internal jobs */
};

/* One task's arguments from iterator next, as a job takes them (next
 * called for index, then the job's checks), appended to b.  Returns what
 * next returned; when 1, msg (size bytes) holds the message of a task
 * that is bad input, and then nothing is appended, else "".  For the
 * tests and tests/fuzz: a job sends the same bytes in a BATCH. */
DLP_PRIV int dlp__job_args(const dlp_sig *sig, dlp_iter_fn next, void *ud,
                           uint64_t index, dlp__buf *b, char *msg,
                           size_t size);

/* For internal jobs (ijob.c) and the job's lifecycle (joblife.c), mu
 * held: the pool's queue of jobs to feed (join at its tail, leave it);
 * whether j has nothing more to send; feed j (or pull up to room tasks
 * into its fill batch): 0, or a negative code; a slot cleared, done,
 * failed with a message, viewed as a result; task index failed for good
 * with its worker lost. */
DLP_PRIV void dlp__job_feedq_add(dlp_job *j);
DLP_PRIV void dlp__job_feedq_remove(dlp_job *j);
DLP_PRIV int dlp__job_fed(const dlp_job *j);
DLP_PRIV int dlp__job_feed(dlp_job *j);
DLP_PRIV int dlp__job_pull(dlp_job *j, size_t room);
DLP_PRIV void dlp__job_slot_clear(dlp_job *j, rslot *s);
DLP_PRIV void dlp__job_slot_done(dlp_job *j, rslot *s);
DLP_PRIV void dlp__job_slot_fail(rslot *s, dlp_fail_kind kind,
                                 const char *msg, size_t len);
DLP_PRIV void dlp__job_slot_view(const dlp_job *j, const rslot *s,
                                 dlp_result *res);
DLP_PRIV void dlp__job_task_lost(dlp_job *j, uint64_t index,
                                 dlp_fail_kind kind, int status,
                                 const char *reason, pid_t pid);

#endif
