/*
 * mpi_pool.c - the MPI transport, library side: links (transport.h)
 * whose far end is an agent on another rank of an MPI job, usually
 * another machine.
 *
 * Rank 0 makes a pool of links, one per other rank; each link is a
 * socketpair whose other end a bridge thread carries over MPI (the pool
 * is driven by whichever of the program's threads waits for results, so
 * MPI has a thread of its own there).  Every other rank makes its
 * agent's pool, which forks the first workers, and forks a fork server
 * (forkserver.c) for their replacements; then MPI starts, and the rank's
 * own thread runs the agent on a channel to rank 0, calling MPI itself.
 * So no process that has called MPI_Init ever forks.
 *
 * The bridges and channels are in the MPI module (mpi_module.h,
 * mpi_bridge.c), loaded here on first use: the library does not link
 * MPI.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "mpi_pool.h"
#include "mpi_module.h"
#include "pool.h"
#include "transport.h"

/* Rank and size from the launcher's environment, readable before
 * MPI_Init: Open MPI, then the PMI of MPICH's Hydra, then PMIx. */
static int env_int(const char *const *names)
{
    for (; *names; names++) {
        const char *v = getenv(*names);
        if (v && *v) {
            char *end;
            long n = strtol(v, &end, 10);
            if (!*end && n >= 0 && n < 1 << 24)
                return (int)n;
        }
    }
    return -1;
}

DLP_API int dlp_mpi_launched(int *rank, int *size)
{
    static const char *const rank_names[] = {"OMPI_COMM_WORLD_RANK",
                                              "PMI_RANK", "PMIX_RANK", NULL};
    static const char *const size_names[] = {"OMPI_COMM_WORLD_SIZE",
                                              "PMI_SIZE", "PMIX_SIZE", NULL};
    int r = env_int(rank_names), n = env_int(size_names);
    if (r < 0 || n < 1 || r >= n)
        return 0;
    if (rank)
        *rank = r;
    if (size)
        *size = n;
    return 1;
}

#ifdef HAVE_MPI

static pthread_once_t module_once = PTHREAD_ONCE_INIT;
static const dlp_mpi_module *module;
static char module_why[512];

static void module_load(void)
{
    const char *path = getenv("DLPOOL_MPI_MODULE");
    const dlp_mpi_module *(*get)(void);
    void *h;
    if (!path || !*path)
        path = DLP_MPI_MODULE_PATH;
    /* Global: MPI loads components of its own that look for its symbols. */
    if (!(h = dlopen(path, RTLD_NOW | RTLD_GLOBAL))) {
        snprintf(module_why, sizeof module_why,
                 "cannot load the MPI module '%s': %s", path, dlerror());
        return;
    }
    *(void **)&get = dlsym(h, DLP_MPI_MODULE_SYMBOL "_get");
    if (!get || !get() || get()->abi != DLP_MPI_MODULE_ABI) {
        snprintf(module_why, sizeof module_why,
                 "'%s' is not dlpool's MPI module of this version", path);
        dlclose(h);
        return;
    }
    module = get(); /* kept loaded: MPI cannot be loaded twice */
}

/* MPI starts once in a process and cannot start again after it ends: one
 * MPI pool or agent per process.  (Two bridges would also take each
 * other's messages.) */
static int mpi_used;
static pthread_mutex_t mpi_used_mu = PTHREAD_MUTEX_INITIALIZER;

/* The MPI module, loaded once, for the process's one use of MPI; NULL
 * with err set if it cannot be. */
static const dlp_mpi_module *mpi_module(dlp_error *err)
{
    int used;
    pthread_once(&module_once, module_load);
    if (!module) {
        dlp__err(err, DLP_EINVAL, "%s", module_why);
        return NULL;
    }
    pthread_mutex_lock(&mpi_used_mu);
    used = mpi_used;
    mpi_used = 1;
    pthread_mutex_unlock(&mpi_used_mu);
    if (used) {
        dlp__err(err, DLP_EINVAL,
                 "one MPI pool or agent per process: this process has "
                 "had one already");
        return NULL;
    }
    return module;
}

/* Rank and size: MPI's own if it is running, else the launcher's. */
static void where(const dlp_mpi_module *m, int *rank, int *size)
{
    *rank = -1;
    *size = 0;
    if (!m->world(rank, size))
        dlp_mpi_launched(rank, size);
}

/* The pool's transport_close: its links are closed, so the bridge ends
 * once every agent has closed its side too. */
static void end_bridge(void *b)
{
    if (b && module)
        module->close(b);
}

int dlp__mpi_pool_create(dlp_pool **out, const dlp_pool_options *opts,
                         dlp_error *err)
{
    const dlp_mpi_module *m = mpi_module(err);
    int size, rank, *ranks, *fds, rc;
    void *b;

    if (!m)
        return DLP_EINVAL;
    where(m, &rank, &size);
    if (size < 2 || rank != 0)
        return dlp__err(err, DLP_EINVAL,
                        "an MPI pool is made on rank 0 of a job of 2 or "
                        "more ranks (this is %s): start it with mpirun -n K, "
                        "K >= 2",
                        size < 1 ? "not an MPI job" : "another rank");
    ranks = malloc((size_t)(size - 1) * sizeof *ranks);
    fds = malloc((size_t)(size - 1) * sizeof *fds);
    if (!ranks || !fds) {
        free(ranks);
        free(fds);
        return dlp__err(err, -ENOMEM, "out of memory");
    }
    for (int i = 1; i < size; i++)
        ranks[i - 1] = i;
    rc = m->open(&b, ranks, (unsigned)(size - 1), fds, err ? err->msg : NULL,
                 err ? sizeof err->msg : 0);
    if (rc) {
        if (err)
            err->code = rc;
    } else {
        for (int i = 0; i < size - 1; i++)
            fds[i] = dlp__fd_above_stdio(fds[i]);
        rc = dlp__pool_create_links(out, fds, (unsigned)(size - 1), opts,
                                    err);
        if (rc) {
            m->close(b); /* its links are closed: it ends */
        } else {
            (*out)->transport = b;
            (*out)->transport_close = end_bridge;
        }
    }
    free(ranks);
    free(fds);
    return rc;
}

DLP_API int dlp_mpi_agent(const dlp_pool_options *opts, dlp_error *err)
{
    const dlp_mpi_module *m = mpi_module(err);
    int rank, size, rc;
    dlp_pool *pool = NULL;
    dlp__fsrv *fsrv = NULL;
    dlp_error perr = {0, ""};
    dlp__chan ch;

    if (!m)
        return DLP_EINVAL;
    where(m, &rank, &size);
    if (rank < 1)
        return dlp__err(err, DLP_EINVAL,
                        "dlp_mpi_agent runs on the ranks other than 0 of an "
                        "MPI job (this is %s)",
                        rank == 0 ? "rank 0" : "not an MPI job");
    if (opts && opts->transport != DLP_TRANSPORT_LOCAL)
        return dlp__err(err, DLP_EINVAL,
                        "an agent's own workers are local: "
                        "opts->transport must be DLP_TRANSPORT_LOCAL");
    /* Before MPI starts (unless the program started it already): the
     * agent's pool forks its first workers, and a fork server is forked
     * for their replacements, so that this process never forks once it
     * has called MPI_Init.  A pool that cannot be made is reported to
     * rank 0 by the agent, task by task. */
    if (dlp__pool_create_local(&pool, opts, &perr)) {
        pool = NULL;
    } else if ((rc = dlp__fsrv_start(&fsrv, err))) {
        dlp_pool_destroy(pool);
        return rc;
    } else {
        pool->fsrv = fsrv;
    }
    /* Then MPI starts, and this thread runs the agent on its channel to
     * rank 0, calling MPI itself between its polls: no thread of ours
     * and no copy stands between MPI and the agent. */
    rc = m->chan_open(&ch.ctx, 0, err ? err->msg : NULL,
                      err ? sizeof err->msg : 0);
    if (rc) {
        if (err)
            err->code = rc;
        dlp_pool_destroy(pool);
        dlp__fsrv_stop(fsrv);
        return rc;
    }
    ch.peek = m->chan_peek;
    ch.take = m->chan_take;
    ch.send = m->chan_send;
    ch.busy = m->chan_busy;
    rc = dlp__agent_serve_chan(&ch, pool, perr.msg);
    /* The pool is gone: its workers were reaped, through the server. */
    dlp__fsrv_stop(fsrv);
    m->chan_close(ch.ctx);
    if (rc == DLP_WEXIT_PROTO)
        return dlp__err(err, DLP_EWORKER,
                        "the agent stopped: a malformed frame from rank 0");
    if (rc)
        return dlp__err(err, DLP_EWORKER, "the agent stopped: %s",
                        rc == DLP_WEXIT_NOMEM ? "out of memory"
                                              : "its channel to rank 0 failed");
    return 0;
}

#else /* !HAVE_MPI */

int dlp__mpi_pool_create(dlp_pool **out, const dlp_pool_options *opts,
                         dlp_error *err)
{
    (void)out;
    (void)opts;
    return dlp__err(err, DLP_EINVAL,
                    "this dlpool was built without MPI (configure "
                    "--with-mpi)");
}

DLP_API int dlp_mpi_agent(const dlp_pool_options *opts, dlp_error *err)
{
    (void)opts;
    return dlp__err(err, DLP_EINVAL,
                    "this dlpool was built without MPI (configure "
                    "--with-mpi)");
}

#endif
