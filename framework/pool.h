/*
 * pool.h - the pool's internal state, and pool.c's functions (its
 * lifecycle).  The event loop is loop.h, the worker table's supervisor
 * supervise.h, the function registry fn.h.  The pool's clients (jobs,
 * futures, agents) read this state and reach the loop through loop.h;
 * the loop reaches them only through the batch interface (batch.h) and
 * the hooks below.
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

#include "batch.h"
#include "common.h"
#include "forkserver.h"
#include "list.h"
#include "wire.h"
#include "worker.h"

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

/* The internal jobs' side of the pool (ijob.c, which sets it with the
 * first internal job), mu held: feed the jobs with tasks left to send;
 * fail every unfinished task of every one. */
typedef struct dlp__jobs_hooks {
    void (*pump)(dlp_pool *p);
    void (*abort_all)(dlp_pool *p, dlp_fail_kind kind, const char *why);
} dlp__jobs_hooks;

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
     * completion callbacks waiting for a thread to run them.  jobs is set
     * by ijob.c with the first internal job: the loop feeds them through
     * it, and dlp__pool_end fails what they have left. */
    dlp__list internal_jobs; /* of dlp_job.all, newest first */
    dlp__list feedq;         /* of dlp_job.feed, oldest first */
    const struct dlp__jobs_hooks *jobs;
    /* The supervisor (supervise.c), told by the loop of a worker whose
     * channel ended or failed (why: NULL, or what was wrong).  mu held. */
    void (*lost)(dlp_pool *p, dlp__worker *w, const char *why);
    dlp__list cbq; /* of dlp_future.cbq, in completion order */
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
    /* What the pool's transport keeps while the pool lives (the MPI
     * bridge, mpi_pool.c), ended by transport_close (the bridge joined) once
     * the pool's links are closed; NULL for other pools. */
    void *transport;
    void (*transport_close)(void *transport);
    /* An agent's fork server (mpi_pool.c): forks the replacements of this
     * pool's workers, and reaps them, in a process that may not fork. */
    dlp__fsrv *fsrv;
    /* Batches answered, kept with their frames' memory for the next ones
     * (fresh memory faults its pages in, and the allocator hands large
     * blocks back to the system when they are freed). */
    dlp__batch *spare_batches;
    unsigned nspare_batches;
};

/* End the pool's work, as terminate and a destroy with jobs open do: no
 * more tasks, every future's unfinished task cancelled with why (also the
 * pool's last loss, which jobs report), the workers stopped (kill_now: as
 * for dlp__supervise_stop).  mu held. */
DLP_PRIV void dlp__pool_end(dlp_pool *p, const char *why, int kill_now);
/* Free a pool whose workers are stopped (its lifecycle is in
 * dlp_pool_destroy).  mu not held. */
DLP_PRIV void dlp__pool_free(dlp_pool *p);
/* Make a pool of local workers with opts (NULL: the defaults), whatever
 * its transport says: dlp_pool_create (transport.c) chooses. */
DLP_PRIV int dlp__pool_create_local(dlp_pool **out,
                                    const dlp_pool_options *opts,
                                    dlp_error *err);
/* Make a pool whose n worker slots are links (transport.h) over the
 * descriptors fds (taken over, also on failure).  Its workers option is
 * ignored. */
DLP_PRIV int dlp__pool_create_links(dlp_pool **out, const int *fds,
                                    unsigned n,
                                    const dlp_pool_options *opts,
                                    dlp_error *err);

#endif
