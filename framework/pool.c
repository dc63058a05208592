/*
 * pool.c - a pool's lifecycle: made (local workers, or links), closed,
 * ended (terminate, or a destroy with work open) and freed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "batch.h"
#include "handle.h"
#include "loop.h"
#include "pool.h"
#include "supervise.h"
#include "worker.h"

DLP_API void dlp_pool_options_init(dlp_pool_options *opts)
{
    memset(opts, 0, sizeof *opts);
}

static void pool_teardown(dlp_pool *p);

static long online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

/* Allocate a pool of n slots (0: the online CPUs) with opts, no worker
 * started yet. */
static int pool_alloc(dlp_pool **out, const dlp_pool_options *opts,
                      unsigned n, dlp_error *err)
{
    dlp_pool *p;
    int rc;

    if (n > 4096)
        return dlp__err(err, DLP_EINVAL, "%u workers asked for; at most 4096",
                        n);
    /* 0 is the default; NaN, a negative or an endless period would each
     * silently become some other rule. */
    if (!(opts->restart_period >= 0 && opts->restart_period <= 1e9))
        return dlp__err(err, DLP_EINVAL,
                        "restart_period %g: expected 0 (the default) or a "
                        "number of seconds up to 1e9",
                        opts->restart_period);
    p = calloc(1, sizeof *p);
    if (!p)
        return dlp__err(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    dlp__list_init(&p->internal_jobs);
    dlp__list_init(&p->feedq);
    dlp__list_init(&p->cbq);
    p->nworkers = n ? n : (unsigned)online_cpus();
    p->wopts.max_tasks = opts->max_tasks_per_worker;
    p->wopts.memory_limit = opts->memory_limit;
    p->restart_intensity = opts->restart_intensity ? opts->restart_intensity
                                                   : 20;
    p->restart_period_ns =
        (uint64_t)((opts->restart_period > 0 ? opts->restart_period : 1.0) *
                   1e9);
    p->loss_times = calloc(p->restart_intensity, sizeof *p->loss_times);
    p->wakefd = dlp__fd_above_stdio(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    p->w = calloc(p->nworkers, sizeof *p->w);
    for (unsigned i = 0; p->w && i < p->nworkers; i++)
        p->w[i].fd = -1; /* before any early destroy below */
    p->scores = mmap(NULL, p->nworkers * sizeof *p->scores,
                     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                     0);
    if (p->scores == MAP_FAILED)
        p->scores = NULL;
    if (opts->plugin_path)
        p->plugin_path = strdup(opts->plugin_path);
    if (p->wakefd < 0 || !p->w || !p->scores || !p->loss_times ||
        (opts->plugin_path && !p->plugin_path)) {
        rc = p->wakefd < 0 ? -errno : -ENOMEM;
        pool_teardown(p);
        return dlp__err(err, rc, "cannot create a pool: %s",
                        dlp_strerror(rc));
    }
    for (unsigned i = 0; i < p->nworkers; i++)
        p->w[i].score = &p->scores[i];
    p->lost = dlp__supervise_lost;
    p->init_fn = -1;
    if ((rc = dlp__handle_add(p, DLP__H_POOL))) {
        pool_teardown(p);
        return dlp__err(err, rc, "cannot create a pool: %s",
                        dlp_strerror(rc));
    }
    *out = p;
    return 0;
}

int dlp__pool_create_local(dlp_pool **out, const dlp_pool_options *opts,
                           dlp_error *err)
{
    dlp_pool *p;
    dlp_pool_options def;
    int rc;

    *out = NULL;
    if (!opts) {
        dlp_pool_options_init(&def);
        opts = &def;
    }
    if ((rc = pool_alloc(&p, opts, opts->workers, err)))
        return rc;
    for (unsigned i = 0; i < p->nworkers; i++) {
        if ((rc = dlp__supervise_start(p, &p->w[i], err))) {
            dlp_pool_destroy(p);
            return rc;
        }
    }
    if (opts->initializer && (rc = dlp__supervise_initializer(p, opts, err))) {
        dlp_pool_destroy(p);
        return rc;
    }
    *out = p;
    return 0;
}

int dlp__pool_create_links(dlp_pool **out, const int *fds, unsigned n,
                           const dlp_pool_options *opts, dlp_error *err)
{
    dlp_pool *p = NULL;
    dlp_pool_options def;
    int rc;

    *out = NULL;
    if (!opts) {
        dlp_pool_options_init(&def);
        opts = &def;
    }
    rc = n == 0 ? dlp__err(err, DLP_EINVAL, "no link to an agent")
         : opts->initializer
             ? dlp__err(err, DLP_EINVAL,
                        "an initializer cannot run on the workers of other "
                        "machines: give it to their agents")
             : pool_alloc(&p, opts, n, err);
    if (rc) {
        for (unsigned i = 0; i < n; i++)
            close(fds[i]);
        return rc;
    }
    for (unsigned i = 0; i < n; i++) {
        dlp__worker *w = &p->w[i];
        int fl = fcntl(fds[i], F_GETFL);
        w->link = 1;
        w->fd = fds[i];
        w->serial = 1;
        if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0) {
            rc = -errno;
            for (unsigned k = i + 1; k < n; k++)
                close(fds[k]);
            dlp_pool_destroy(p);
            return dlp__err(err, rc, "link %u: %s", i, strerror(-rc));
        }
    }
    *out = p;
    return 0;
}

DLP_API void dlp_pool_interrupt(dlp_pool *p)
{
    if (!p)
        return;
    /* Only an atomic store and a write(): both async-signal-safe. */
    __atomic_store_n(&p->interrupted, 1, __ATOMIC_RELEASE);
    dlp__loop_wake(p);
}

DLP_API unsigned dlp_pool_workers(const dlp_pool *pool)
{
    return dlp__handle_live(pool, DLP__H_POOL) ? pool->nworkers : 0;
}

DLP_API int dlp_pool_close(dlp_pool *p)
{
    if (!dlp__handle_live(p, DLP__H_POOL))
        return DLP_EINVAL;
    pthread_mutex_lock(&p->mu);
    p->closed = 1;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* Free the pool, whose workers are stopped.  mu not held. */
void dlp__pool_free(dlp_pool *p)
{
    for (size_t i = 0; i < p->nfns; i++) {
        free(p->fns[i]->ref);
        free(p->fns[i]->symbol);
        free(p->fns[i]->sig_given);
        free(p->fns[i]->path);
        free(p->fns[i]);
    }
    free(p->fns);
    free(p->w);
    free(p->loss_times);
    dlp__batch_spares_free(p);
    if (p->scores)
        munmap(p->scores, p->nworkers * sizeof *p->scores);
    free(p->plugin_path);
    dlp__buf_free(&p->init_args);
    if (p->wakefd >= 0)
        close(p->wakefd);
    /* The links are closed: the bridge ends once every agent has closed
     * its side too. */
    if (p->transport_close)
        p->transport_close(p->transport);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

/* Stop the workers of a pool nothing else holds, and free it. */
static void pool_teardown(dlp_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->closed = 1;
    dlp__supervise_stop(p, 0);
    pthread_mutex_unlock(&p->mu);
    dlp__pool_free(p);
}

void dlp__pool_end(dlp_pool *p, const char *why, int kill_now)
{
    DLP_ASSERT_HELD(&p->mu);
    p->closed = 1;
    p->terminated = 1;
    snprintf(p->last_loss, sizeof p->last_loss, "%s", why);
    if (p->jobs)
        p->jobs->abort_all(p, DLP_FAIL_CANCELLED, why);
    dlp__supervise_stop(p, kill_now);
    p->joined = 1;
}

DLP_API void dlp_pool_destroy(dlp_pool *p)
{
    /* A pool destroyed already (or never made) is not touched: its memory
     * may be gone, or be another object's by now. */
    if (!p || !dlp__handle_drop(p, DLP__H_POOL))
        return;
    pthread_mutex_lock(&p->mu);
    if (!p->open_jobs && dlp__list_empty(&p->internal_jobs)) {
        pthread_mutex_unlock(&p->mu);
        pool_teardown(p);
        return;
    }
    /* Jobs or futures are still open, and their handles point here: end
     * their work as terminate does, stop the workers, and leave the
     * freeing to the destroy of the last of them (dlp_job_destroy). */
    dlp__pool_end(p, "the pool was destroyed", 0);
    /* Only now, in the same hold of mu as the count below: stopping the
     * workers waits on cv with mu released, and a job destroyed then
     * must not free the pool under this call.  Whichever of us sees the
     * last job gone, this call or that job's destroy, frees it. */
    p->destroyed = 1;
    int last = !p->open_jobs && dlp__list_empty(&p->internal_jobs);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (last)
        dlp__pool_free(p);
}

