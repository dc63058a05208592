/*
 * supervise.c - the worker table's supervisor: start a worker and give
 * it the pool's functions and initializer, answer for a lost one (blame,
 * hand its batches back to their owners, count it towards the restart
 * intensity, replace it), take a batch owner's work off the workers, and
 * stop every worker at the end.
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

#include "args.h"
#include "batch.h"
#include "fn.h"
#include "loop.h"
#include "pool.h"
#include "supervise.h"
#include "worker.h"

/* The initializer's call (below), as the owner of its batches. */
static const dlp__batch_ops init_ops;

/* The initializer's call: one task, sent to a worker after its LOADs and
 * before any job's batch. */
static dlp__batch *make_init(dlp_pool *p)
{
    dlp__batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->ops = &init_ops;
    b->owner = p;
    b->type = DLP_F_BATCH;
    b->job_id = UINT32_MAX;
    b->fn = (uint32_t)p->init_fn;
    b->count = 1;
    b->scan = DLP_BATCH_OFF_TASKS;
    if (dlp__frame_begin(&b->frame, DLP_F_BATCH, b->job_id, b->fn) < 0 ||
        dlp__put_u32(&b->frame, 1) || dlp__put_u64(&b->frame, 0) ||
        dlp__put_u32(&b->frame, (uint32_t)p->init_args.len) ||
        dlp__buf_put(&b->frame, p->init_args.p, p->init_args.len) ||
        dlp__frame_end(&b->frame, 0)) {
        dlp__batch_free(b);
        return NULL;
    }
    return b;
}

/* Does worker w still owe the answer to its initializer's call? */
static int init_pending(const dlp__worker *w)
{
    for (const dlp__batch *b = w->head; b; b = b->next)
        if (b->ops == &init_ops)
            return 1;
    return 0;
}

/* The initializer failed in worker pid: no replacement will do better,
 * so the caller retires the worker's slot. */
static void init_failed(dlp_pool *p, pid_t pid, const char *fmt, ...)
    DLP_FMT(3, 4);

static void init_failed(dlp_pool *p, pid_t pid, const char *fmt, ...)
{
    va_list ap;
    char why[400];
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (!p->init_failed) {
        p->init_failed = 1;
        snprintf(p->init_msg, sizeof p->init_msg,
                 "initializer '%s' failed in worker %d: %s",
                 p->fns[p->init_fn]->ref, (int)pid, why);
    }
    snprintf(p->last_loss, sizeof p->last_loss, "%s", p->init_msg);
}

/* Reap worker w's process (dlp__reap's grace and answer), through the
 * fork server that forked it, if one did. */
static int reap_worker(dlp_pool *p, const dlp__worker *w, int grace_ms)
{
    return w->by_server ? dlp__fsrv_reap(p->fsrv, w->pid, grace_ms)
                        : dlp__reap(w->pid, grace_ms);
}

/* Take owner's batches out of worker w's queue: unsent ones are freed,
 * sent ones are kept (the worker will answer them) but orphaned. */
static void withdraw(dlp__worker *w, const void *owner)
{
    dlp__batch **pp = &w->head, *prev = NULL;
    int sent = 1;
    while (*pp) {
        dlp__batch *b = *pp;
        if (b == w->send && w->send_off == 0)
            sent = 0;
        if (b->owner == owner && !sent) {
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
        if (b->owner == owner) {
            b->ops = &dlp__batch_orphan;
            b->owner = NULL;
            b->timeout_ns = 0;
        }
        prev = b;
        pp = &b->next;
    }
}

void dlp__supervise_withdraw(dlp_pool *p, const void *owner)
{
    DLP_ASSERT_HELD(&p->mu);
    for (unsigned i = 0; i < p->nworkers; i++)
        withdraw(&p->w[i], owner);
}

void dlp__supervise_stop_job(dlp_pool *p, uint32_t job_id)
{
    DLP_ASSERT_HELD(&p->mu);
    for (unsigned i = 0; i < p->nworkers; i++) {
        dlp__worker *w = &p->w[i];
        /* Killed like a timeout (so neither a task nor the restart
         * intensity is charged), and replaced.  A link's entry is never
         * written: its agent stops its own tasks. */
        if (w->fd >= 0 && !w->kill_seq &&
            __atomic_load_n(&w->score->busy, __ATOMIC_ACQUIRE) ==
                DLP_SCORE_TASK &&
            w->score->job == job_id) {
            w->kill_seq = __atomic_load_n(&w->score->seq, __ATOMIC_ACQUIRE);
            w->kill_after_ns = 0;
            dlp__loop_kill(w);
        }
    }
}

int dlp__supervise_sent(dlp_pool *p, const void *owner)
{
    DLP_ASSERT_HELD(&p->mu);
    for (unsigned i = 0; i < p->nworkers; i++) {
        dlp__worker *w = &p->w[i];
        for (dlp__batch *b = w->head; b; b = b->next) {
            if (b == w->send && w->send_off == 0)
                break; /* this one and the rest are unsent */
            if (b->owner == owner)
                return 1;
            if (b == w->send)
                break;
        }
    }
    return 0;
}

/* Start a worker in slot w and give it every function resolved so far.
 * A link is not started: it is given its channel when the pool is made. */
int dlp__supervise_start(dlp_pool *p, dlp__worker *w, dlp_error *err)
{
    int rc = w->link   ? 0
             : p->fsrv ? dlp__fsrv_spawn(p->fsrv, &w->pid, &w->fd, w->score,
                                         &p->wopts, err)
                       : dlp__worker_spawn(&w->pid, &w->fd, w->score,
                                           &p->wopts, err);
    if (rc)
        return rc;
    w->by_server = p->fsrv && !w->link;
    w->answered = 0;
    w->serial++;
    for (uint32_t id = 0; id < p->nfns; id++) {
        dlp__fnent *f = p->fns[id];
        dlp__batch *b;
        /* A function that already failed (or crashed the worker this one
         * replaces) is not loaded again: no fork loop on a bad plugin. */
        if (f->state == DLP_FN_FAILED || f->code)
            continue;
        if (!(b = dlp__fn_load_batch(p, id)))
            return dlp__err(err, -ENOMEM, "out of memory");
        if (f->state == DLP_FN_LOADING)
            f->pending++;
        dlp__loop_send(p, w, b);
        if (w->fd < 0)
            return dlp__err(err, DLP_EWORKER, "a new worker died at once");
    }
    if (p->init_fn >= 0) {
        dlp__batch *b = make_init(p);
        if (!b)
            return dlp__err(err, -ENOMEM, "out of memory");
        dlp__loop_send(p, w, b);
        if (w->fd < 0)
            return dlp__err(err, DLP_EWORKER, "a new worker died at once");
    }
    return 0;
}

/* The initializer's answer: a failure retires the worker's slot. */
static int init_result(dlp__batch *b, uint64_t index, int kind,
                       const unsigned char *payload, uint32_t len, pid_t pid)
{
    DLP_ASSERT_HELD(&((dlp_pool *)b->owner)->mu);
    (void)index;
    if (kind == DLP_R_OK)
        return 0;
    init_failed(b->owner, pid, "%.*s", (int)len, (const char *)payload);
    return DLP_RETIRE;
}

static int init_lost(dlp__batch *b, dlp__worker *w,
                     const dlp__batch_loss *loss)
{
    DLP_ASSERT_HELD(&((dlp_pool *)b->owner)->mu);
    if (loss->first) {
        init_failed(b->owner, w->pid, "%s", loss->reason);
        w->retired = 1;
    }
    dlp__batch_free(b);
    return 0;
}

static const dlp__batch_ops init_ops = {
    .setup = 1, .result = init_result, .lost = init_lost};

/* Count a worker lost outside any task; past the restart intensity the
 * pool stops replacing workers.  Returns 1 if it did. */
static int count_restart(dlp_pool *p, const char *reason)
{
    DLP_ASSERT_HELD(&p->mu);
    uint64_t now = dlp__now_ns();
    unsigned r = p->restart_intensity;
    uint64_t *oldest = &p->loss_times[p->nlosses % r];
    if (p->nlosses >= r && now - *oldest <= p->restart_period_ns) {
        snprintf(p->last_loss, sizeof p->last_loss,
                 "workers keep dying outside any task: more than %u in "
                 "%.3g s, the restart intensity (the last: %s)",
                 r, (double)p->restart_period_ns / 1e9, reason);
        p->broken = 1;
    }
    *oldest = now;
    p->nlosses++;
    return p->broken;
}

void dlp__supervise_lost(dlp_pool *p, dlp__worker *w, const char *why)
{
    DLP_ASSERT_HELD(&p->mu);
    char status[96], reason[256];
    int st, blamed = 0, planned, ours;
    dlp__batch *b, *next;
    dlp__score sc;
    dlp_fail_kind kind = DLP_FAIL_WORKER;
    /* The head frame was being worked on only if it was sent, at least in
     * part; a frame still wholly queued cannot be to blame. */
    int first = !(w->send == w->head && w->send_off == 0);

    close(w->fd);
    w->fd = -1;
    /* A link has no process of ours to reap, and cannot be replaced: its
     * slot is down for good. */
    st = w->link ? -1
                 : reap_worker(p, w,
                               why || w->kill_seq ? 0 : DLP_LOST_GRACE_MS);
    if (w->link)
        w->retired = 1;
    /* The worker is dead: its scoreboard entry is final. */
    sc = *w->score;
    ours = w->kill_seq != 0;
    /* A worker that left with status 0 on its own retired as planned
     * (max_tasks_per_worker), between tasks: nothing it held is to blame.
     * One that answered no task at all cannot have reached its limit: that
     * is a loss, or a pool with a function that exits would fork
     * forever. */
    int clean_exit = !why && st != -1 && WIFEXITED(st) &&
                     WEXITSTATUS(st) == 0;
    if (clean_exit && w->answered > 0)
        first = 0;
    if (w->retired && why)
        sc.busy = DLP_SCORE_IDLE; /* we retired it: its task runs again */
    if (ours && !(sc.busy == DLP_SCORE_TASK && sc.seq == w->kill_seq)) {
        /* We killed it for a timeout, but that task had just finished:
         * the one it was running now is not to blame; it runs again. */
        sc.busy = DLP_SCORE_IDLE;
    }
    if (ours && sc.busy == DLP_SCORE_TASK) {
        /* We killed it for running past its job's timeout. */
        snprintf(reason, sizeof reason, "timed out after %.3g s (worker %d "
                 "killed)", (double)w->kill_after_ns / 1e9, (int)w->pid);
        kind = DLP_FAIL_TIMEOUT;
    } else if (why) {
        snprintf(reason, sizeof reason, "worker %d: %s", (int)w->pid, why);
    } else if (w->link) {
        snprintf(reason, sizeof reason, "the agent of link %u went away",
                 (unsigned)(w - p->w));
    } else if (st == -1) {
        snprintf(reason, sizeof reason, "worker %d lost", (int)w->pid);
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == DLP_WEXIT_CHAN) {
        snprintf(reason, sizeof reason,
                 "worker %d exited: plugin code closed or replaced its "
                 "channel to the pool (descriptor %d)",
                 (int)w->pid, dlp__channel_fd());
        kind = DLP_FAIL_EXIT;
    } else {
        dlp__describe_status(st, status, sizeof status);
        snprintf(reason, sizeof reason, "worker %d %s", (int)w->pid,
                 status);
        kind = WIFSIGNALED(st) ? DLP_FAIL_SIGNAL : DLP_FAIL_EXIT;
    }
    w->kill_seq = 0;

    for (b = w->head; b; b = next) {
        /* Each batch's owner answers for it: a job's task fails or runs
         * again, an agent's relayed batch goes back to the agent, a LOAD
         * or the initializer's call that was being worked on fails. */
        dlp__batch_loss loss = {
            first, sc.busy == DLP_SCORE_TASK && b->job_id == sc.job,
            sc.index, sc.start_ns, kind, st, reason, w->pid};
        next = b->next;
        if (b->ops->lost(b, w, &loss)) {
            blamed = 1;
            sc.busy = DLP_SCORE_IDLE; /* one running task at most */
        }
        first = 0;
    }
    w->head = w->tail = w->send = NULL;
    w->send_off = 0;
    w->nbatches = 0;
    w->in.len = 0;

    /* A worker that left with status 0 on its own (max tasks per worker)
     * was not lost: it retired as planned. */
    planned = clean_exit && !blamed && w->answered > 0;
    if (!planned && !blamed && !ours && !w->retired && !p->destroying)
        count_restart(p, reason);
    if (!planned && (!w->retired || w->link) && !p->broken)
        snprintf(p->last_loss, sizeof p->last_loss, "%s", reason);

    /* Replace the worker, but not from inside another replacement: there
     * the outer call tries again (below), within the restart intensity. */
    if (!p->destroying && !p->respawning && !w->retired && !p->broken) {
        dlp_error err = {0, ""};
        p->respawning = 1;
        /* A replacement can be lost before it is given its functions (a
         * kill from outside, a fork failure): try again, a few times.  Each
         * such loss counts towards the restart intensity. */
        for (int tries = 0;
             tries < 8 && w->fd < 0 && !w->retired && !p->broken; tries++) {
            if (dlp__supervise_start(p, w, &err) && w->fd >= 0) {
                close(w->fd);
                reap_worker(p, w, 0);
                w->fd = -1;
            }
        }
        if (w->fd < 0 && err.code && !p->broken)
            snprintf(p->last_loss, sizeof p->last_loss,
                     "%.200s, and no replacement: %.250s", reason, err.msg);
        p->respawning = 0;
    }
}

/* Resolve the initializer, encode its arguments, send its call to every
 * worker and wait for all of them to answer. */
int dlp__supervise_initializer(dlp_pool *p, const dlp_pool_options *opts,
                               dlp_error *err)
{
    const dlp_val *args = opts->initargs;
    dlp_val *none = NULL;
    dlp__pre pre;
    int fn, rc;

    fn = dlp_pool_fn(p, opts->initializer, opts->initializer_sig, err);
    if (fn < 0) {
        char inner[sizeof err->msg];
        snprintf(inner, sizeof inner, "%s", err ? err->msg : "");
        return dlp__err(err, fn, "initializer: %s", inner);
    }
    if (!args && !(args = none = dlp_val_list()))
        return dlp__err(err, -ENOMEM, "out of memory");
    rc = dlp__pre_encode(&pre, &p->fns[fn]->sig, &args, 1, 0);
    dlp_val_free(none);
    if (rc)
        return dlp__err(err, rc, "out of memory");
    if (pre.bad) {
        rc = dlp__err(err, DLP_EINVAL, "initializer '%s': %s",
                      opts->initializer, pre.bad[0]);
        dlp__pre_free(&pre);
        return rc;
    }
    rc = dlp__buf_put(&p->init_args, pre.bytes.p, pre.task[0].len);
    dlp__pre_free(&pre);
    if (rc)
        return dlp__err(err, rc, "out of memory");

    pthread_mutex_lock(&p->mu);
    p->init_fn = fn;
    for (unsigned i = 0; i < p->nworkers; i++) {
        dlp__worker *w = &p->w[i];
        dlp__batch *b;
        if (w->fd < 0)
            continue;
        if (!(b = make_init(p))) {
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, -ENOMEM, "out of memory");
        }
        dlp__loop_send(p, w, b);
    }
    for (;;) {
        unsigned waiting = 0;
        if (p->init_failed)
            break;
        for (unsigned i = 0; i < p->nworkers; i++)
            waiting += p->w[i].fd >= 0 && init_pending(&p->w[i]);
        if (!waiting)
            break;
        dlp__loop_drive(p, -1, 0);
    }
    rc = 0;
    if (p->init_failed)
        rc = dlp__err(err, DLP_EINIT, "%s", p->init_msg);
    else if (dlp__loop_alive(p) == 0)
        rc = dlp__err(err, DLP_EWORKER, "every worker was lost running the "
                                        "initializer (the last: %s)",
                      p->last_loss);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void dlp__supervise_stop(dlp_pool *p, int kill_now)
{
    DLP_ASSERT_HELD(&p->mu);
    /* Nobody may be polling the channels we are about to close; and no
     * waiting thread may start a new step meanwhile (it would hold the
     * lock from one step to the next, and we would never get our turn). */
    p->stopping++;
    while (p->driving) {
        dlp__loop_wake(p);
        pthread_cond_wait(&p->cv, &p->mu);
    }
    p->destroying = 1; /* a worker lost from here on is not replaced */
    /* Close every channel first, so all workers see EOF together, then
     * reap them; one that is busy in a task past the grace is killed. */
    for (unsigned i = 0; p->w && i < p->nworkers; i++) {
        if (p->w[i].fd >= 0) {
            if (kill_now && !p->w[i].link)
                kill(p->w[i].pid, SIGKILL);
            /* shutdown, not just close: a process the caller forked holds
             * copies of our channels, and the worker must see EOF now. */
            shutdown(p->w[i].fd, SHUT_RDWR);
            close(p->w[i].fd);
            p->w[i].fd = -2;
        }
    }
    uint64_t deadline = dlp__now_ns() + DLP_EXIT_GRACE_MS * 1000000ull;
    for (unsigned i = 0; p->w && i < p->nworkers; i++) {
        dlp__worker *w = &p->w[i];
        dlp__batch *b, *next;
        if (w->fd == -2) {
            /* One grace period for all workers, not one each. */
            uint64_t now = dlp__now_ns();
            if (!w->link)
                reap_worker(p, w, now < deadline
                                      ? (int)((deadline - now) / 1000000u)
                                      : 0);
            w->fd = -1;
            w->retired = 1;
        }
        for (b = w->head; b; b = next) {
            next = b->next;
            dlp__batch_free(b);
        }
        w->head = w->tail = w->send = NULL;
        w->send_off = 0;
        w->nbatches = 0;
        dlp__buf_free(&w->in);
    }
    p->stopping--;
    pthread_cond_broadcast(&p->cv); /* waiters: look again, all is gone */
}

