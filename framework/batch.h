/*
 * batch.h - one outbound frame (a BATCH of tasks, or a LOAD) and the
 * interface through which the event loop reaches whoever owns it.
 *
 * The loop (loop.c) reads the replies, matches each to the head of its
 * worker's queue and hands what it learnt to the batch's owner through
 * b->ops: a job (job.c), an agent relaying a batch as it came (agent.c),
 * the initializer's call or a LOAD (supervise.c, fn.c).  It never asks
 * what kind of owner a batch has.  Every call is made with the pool's mu
 * held.
 */
#ifndef DLPOOL_FRAMEWORK_BATCH_H
#define DLPOOL_FRAMEWORK_BATCH_H

#include <sys/types.h>

#include "common.h"
#include "wire.h"

struct dlp__worker;
typedef struct dlp__batch dlp__batch;

/* What the loop knows of a lost worker, for the owner of each batch it
 * held. */
typedef struct dlp__batch_loss {
    int first;     /* the batch was at the head and sent, at least in
                      part: the one being worked on */
    int running;   /* the scoreboard names a task of this batch's job
                      id as running when the worker died */
    uint64_t index;      /* that task */
    uint64_t start_mono; /* when it started (dlp__now_ns clock), 0 unknown */
    dlp_fail_kind kind;  /* how the running task failed */
    int status;          /* the worker's wait status, -1 unknown */
    const char *reason;  /* the loss in words ("worker 12 killed by ...") */
    pid_t pid;
} dlp__batch_loss;

/* What a result op returns to have the worker's slot retired. */
#define DLP_RETIRE 1

typedef struct dlp__batch_ops {
    /* The tasks are set-up, not tasks (the initializer's call): a
     * worker's answers to them do not count as tasks it answered. */
    int setup;
    /* A LOADED reply to LOAD batch b: the worker's code and its message
     * (or the signature).  0, or nonzero to drop the worker. */
    int (*loaded)(dlp__batch *b, struct dlp__worker *w, int code,
                  const char *msg, uint32_t len);
    /* One result record of b (task index, its kind DLP_R_*, len bytes of
     * payload in the frame), matched to the task it answers; pid the
     * worker that ran it.  0; DLP_EPROTO to drop the worker as corrupt;
     * DLP_RETIRE to drop it and retire its slot.  Called once per task,
     * so with the record's fields in registers; never NULL. */
    int (*result)(dlp__batch *b, uint64_t index, int kind,
                  const unsigned char *payload, uint32_t len, pid_t pid);
    /* Before a task's result, when the record says so: when it started
     * (CLOCK_REALTIME ns) and how long it ran (DLP_BATCH_TIMES); the
     * attempts it took where it ran, when more than one (an agent's,
     * DLP_RESULTS_PIDS).  NULL: not wanted. */
    void (*times)(dlp__batch *b, uint64_t index, uint64_t start_ns,
                  uint64_t run_ns);
    void (*attempts)(dlp__batch *b, uint64_t index, uint32_t attempts);
    /* A whole RESULTS frame for b (h, payload), its records read: the
     * worker's busy time for them, wpid the worker.  NULL: nothing. */
    void (*results)(dlp__batch *b, const dlp__hdr *h,
                    const unsigned char *payload, uint64_t busy_ns,
                    pid_t wpid);
    /* b's worker is gone with b not wholly answered (its unanswered
     * tasks from b->scan on).  The owner takes b over (keeps it, or
     * frees it).  Returns 1 if it took the blame for the running task
     * the loss names (then no other batch is blamed). */
    int (*lost)(dlp__batch *b, struct dlp__worker *w,
                const dlp__batch_loss *loss);
    /* The limits a batch sent over a link carries (DLP_BATCH_LIMITS):
     * its job's timeout and retries.  NULL: none. */
    void (*limits)(const dlp__batch *b, uint64_t *timeout_ns,
                   uint32_t *retries);
} dlp__batch_ops;

/* Replies come back in the order frames were sent, so the head of a
 * worker's queue is always the frame the next reply answers. */
struct dlp__batch {
    struct dlp__batch *next;
    const dlp__batch_ops *ops; /* never NULL once queued on a worker */
    void *owner;               /* what ops are called about */
    uint16_t type;         /* DLP_F_BATCH or DLP_F_LOAD */
    uint32_t job_id, fn;
    uint64_t timeout_ns;   /* per-task timeout the loop enforces, 0: none */
    uint32_t count, done;  /* tasks in the frame, results received */
    size_t scan;           /* offset of the next task record to answer */
    dlp__buf frame;        /* header + payload, ready to send */
};

/* A result op for owners that need nothing per record (they take the
 * whole frame, or drop it). */
DLP_PRIV int dlp__batch_no_result(dlp__batch *b, uint64_t index, int kind,
                                  const unsigned char *payload, uint32_t len,
                                  pid_t pid);

/* The owner of a batch whose owner went away while a worker held it:
 * its results are dropped, its loss only frees it. */
DLP_PRIV extern const dlp__batch_ops dlp__batch_orphan;

DLP_PRIV void dlp__batch_free(dlp__batch *b);
/* A batch, zeroed but for its frame's memory (empty): a spare one if the
 * pool has one; NULL if out of memory.  Keep b as a spare, or free it.
 * mu held for both. */
DLP_PRIV dlp__batch *dlp__batch_take(dlp_pool *p);
DLP_PRIV void dlp__batch_recycle(dlp_pool *p, dlp__batch *b);
/* Free the pool's spare batches (the pool is being freed). */
DLP_PRIV void dlp__batch_spares_free(dlp_pool *p);

/* Append b's limits (ops->limits) for a link, unless it has them or
 * there are none; out of memory, it goes without.  Take them off again
 * before its tasks go elsewhere. */
DLP_PRIV void dlp__batch_add_limits(dlp__batch *b);
DLP_PRIV void dlp__batch_strip_limits(dlp__batch *b);

#endif
