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
#include "wire.h"
#include "worker.h"

/* One outbound frame and what the worker still owes for it.  Replies come
 * back in the order frames were sent, so the head of a worker's queue is
 * always the frame the next reply answers. */
typedef struct dlp__batch {
    struct dlp__batch *next;
    uint16_t type;         /* DLP_F_BATCH or DLP_F_LOAD */
    uint32_t job_id, fn;
    struct dlp_job *job;   /* NULL once the job is gone: results dropped */
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
    uint64_t kill_seq;    /* killed for a timeout while running task seq */
    uint64_t kill_after_ns; /* the timeout it ran past */
    dlp__buf in;          /* bytes read, not yet a whole frame */
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
};

/* Queue frame b on worker w and try to write it now. */
DLP_PRIV void dlp__pool_send(dlp_pool *p, dlp__worker *w, dlp__batch *b);

/* The live worker with the fewest task batches outstanding, if it has
 * fewer than limit; NULL otherwise. */
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

/* Job side, called by the loop with mu held. */
DLP_PRIV void dlp__job_result(struct dlp_job *j, uint64_t index, int kind,
                              const unsigned char *payload, uint32_t len);
DLP_PRIV void dlp__job_lost(struct dlp_job *j, uint64_t index,
                            dlp_fail_kind kind, int code,
                            const char *reason);
/* Take over the unanswered tasks of a lost worker's batch b and send them
 * again, except task skip when have_skip is set (it was running when the
 * worker died).  Returns 1 if skip was found and left out. */
DLP_PRIV int dlp__job_requeue(struct dlp_job *j, dlp__batch *b,
                              int have_skip, uint64_t skip);
DLP_PRIV void dlp__job_timing(struct dlp_job *j, uint32_t n,
                              uint64_t busy_ns);
/* The job's per-task timeout in ns, 0 for none. */
DLP_PRIV uint64_t dlp__job_timeout_ns(const struct dlp_job *j);
/* The running task index of job j died with its worker: return 1 (and
 * count the attempt) if it is to run again. */
DLP_PRIV int dlp__job_retry(struct dlp_job *j, uint64_t index);

DLP_PRIV void dlp__batch_free(dlp__batch *b);

#endif
