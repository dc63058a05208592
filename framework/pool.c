/*
 * pool.c - pool lifecycle, the worker table, the supervisor and the event
 * loop.
 *
 * The loop runs in whichever caller thread needs progress (see pool.h):
 * there is no background thread, so a single-threaded program pays no
 * thread hand-off per result, and a pool that nobody waits on costs
 * nothing.
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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "batch.h"
#include "handle.h"
#include "loader.h"
#include "pool.h"
#include "transport.h"
#include "sig.h"
#include "worker.h"

/* How long a worker whose channel closed may take to exit before it is
 * killed (destroy), and how long a worker that closed its channel may
 * take to die (loss). */
#define EXIT_GRACE_MS 500
#define LOST_GRACE_MS 200

DLP_API void dlp_pool_options_init(dlp_pool_options *opts)
{
    memset(opts, 0, sizeof *opts);
}

unsigned dlp__pool_alive(dlp_pool *p)
{
    unsigned n = 0;
    for (unsigned i = 0; i < p->nworkers; i++)
        n += p->w[i].fd >= 0;
    return n;
}

dlp__worker *dlp__pool_pick(dlp_pool *p, unsigned limit)
{
    dlp__worker *best = NULL;
    for (unsigned i = 0; i < p->nworkers; i++) {
        dlp__worker *w = &p->w[i];
        if (w->fd >= 0 &&
            w->nbatches < (w->link ? limit * DLP_LINK_DEPTH : limit) &&
            (!best || w->nbatches < best->nbatches))
            best = w;
    }
    return best;
}

static void worker_lost(dlp_pool *p, dlp__worker *w, const char *why);
static void read_worker(dlp_pool *p, dlp__worker *w);

/* Write as much queued output as the socket takes.  Returns -1 if the
 * worker was lost. */
static int flush_worker(dlp_pool *p, dlp__worker *w)
{
    while (w->send) {
        struct iovec iov[16];
        struct msghdr mh;
        int n = 0;
        size_t off = w->send_off;
        ssize_t r;
        for (dlp__batch *b = w->send; b && n < 16; b = b->next) {
            iov[n].iov_base = b->frame.p + off;
            iov[n].iov_len = b->frame.len - off;
            off = 0;
            n++;
        }
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = iov;
        mh.msg_iovlen = (size_t)n;
        /* MSG_NOSIGNAL: a dead worker must not kill us with SIGPIPE. */
        r = sendmsg(w->fd, &mh, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            /* Read what it sent before it went: results already in the
             * socket are not run a second time.  read_worker declares the
             * loss itself at end-of-file. */
            unsigned serial = w->serial;
            read_worker(p, w);
            if (w->serial == serial && w->fd >= 0)
                worker_lost(p, w, NULL);
            return -1;
        }
        size_t left = (size_t)r;
        while (w->send && left) {
            size_t rest = w->send->frame.len - w->send_off;
            if (left >= rest) {
                left -= rest;
                w->send = w->send->next;
                w->send_off = 0;
            } else {
                w->send_off += left;
                left = 0;
            }
        }
    }
    return 0;
}

void dlp__pool_send(dlp_pool *p, dlp__worker *w, dlp__batch *b)
{
    if (w->link && b->type == DLP_F_BATCH)
        dlp__batch_add_limits(b);
    b->next = NULL;
    if (w->tail)
        w->tail->next = b;
    else
        w->head = b;
    w->tail = b;
    if (!w->send) {
        w->send = b;
        w->send_off = 0;
    }
    if (b->type == DLP_F_BATCH)
        w->nbatches++;
    if (flush_worker(p, w) == 0 && w->send && p->driving) {
        /* The driver polls without POLLOUT for this worker: wake it. */
        dlp__pool_wake(p);
    }
}

/* The owners of the pool's own batches: a LOAD, the initializer's call
 * (below). */
static const dlp__batch_ops load_ops, init_ops;

static dlp__batch *make_load(dlp_pool *p, uint32_t id)
{
    dlp__fnent *f = p->fns[id];
    dlp__batch *b = calloc(1, sizeof *b);
    long off;
    if (!b)
        return NULL;
    b->ops = &load_ops;
    b->owner = p;
    b->type = DLP_F_LOAD;
    b->fn = id;
    off = dlp__frame_begin(&b->frame, DLP_F_LOAD, id, 0);
    if (off < 0 ||
        dlp__put_str(&b->frame, f->path, strlen(f->path), 1) ||
        dlp__put_str(&b->frame, f->symbol, strlen(f->symbol), 1) ||
        dlp__put_str(&b->frame, f->sig_given ? f->sig_given : "",
                     f->sig_given ? strlen(f->sig_given) : 0, 1) ||
        dlp__frame_end(&b->frame, off)) {
        dlp__batch_free(b);
        return NULL;
    }
    return b;
}

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

/* The initializer failed in worker w: no replacement will do better. */
static void init_failed(dlp_pool *p, dlp__worker *w, const char *fmt, ...)
    DLP_FMT(3, 4);

static void init_failed(dlp_pool *p, dlp__worker *w, const char *fmt, ...)
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
                 p->fns[p->init_fn]->ref, (int)w->pid, why);
    }
    snprintf(p->last_loss, sizeof p->last_loss, "%s", p->init_msg);
    w->retired = 1;
}

/* Reap worker w's process (dlp__reap's grace and answer), through the
 * fork server that forked it, if one did. */
static int reap_worker(dlp_pool *p, const dlp__worker *w, int grace_ms)
{
    return w->by_server ? dlp__fsrv_reap(p->fsrv, w->pid, grace_ms)
                        : dlp__reap(w->pid, grace_ms);
}

/* Stop worker w now: SIGKILL a forked worker; shut a link down (its
 * agent sees the end of the channel and stops its own workers). */
static void kill_worker(dlp__worker *w)
{
    if (w->link)
        shutdown(w->fd, SHUT_RDWR);
    else
        kill(w->pid, SIGKILL);
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

void dlp__pool_withdraw(dlp_pool *p, const void *owner)
{
    for (unsigned i = 0; i < p->nworkers; i++)
        withdraw(&p->w[i], owner);
}

void dlp__pool_stop_job(dlp_pool *p, uint32_t job_id)
{
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
            kill_worker(w);
        }
    }
}

int dlp__pool_sent(dlp_pool *p, const void *owner)
{
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
static int start_worker(dlp_pool *p, dlp__worker *w, dlp_error *err)
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
        if (!(b = make_load(p, id)))
            return dlp__err(err, -ENOMEM, "out of memory");
        if (f->state == DLP_FN_LOADING)
            f->pending++;
        dlp__pool_send(p, w, b);
        if (w->fd < 0)
            return dlp__err(err, DLP_EWORKER, "a new worker died at once");
    }
    if (p->init_fn >= 0) {
        dlp__batch *b = make_init(p);
        if (!b)
            return dlp__err(err, -ENOMEM, "out of memory");
        dlp__pool_send(p, w, b);
        if (w->fd < 0)
            return dlp__err(err, DLP_EWORKER, "a new worker died at once");
    }
    return 0;
}

/* A status code a worker may send: 0, a dlpool code, or -errno.  Anything
 * else is a corrupt frame. */
static int code_ok(int code)
{
    return code == 0 || (code < 0 && code > -4096) ||
           (code <= DLP_EINVAL && code >= DLP_ETASK);
}

/* Record a LOADED reply, or a worker that died before sending one. */
static void fn_answer(dlp_pool *p, uint32_t id, int code, const char *msg,
                      size_t len)
{
    dlp__fnent *f = p->fns[id];
    if (f->pending)
        f->pending--;
    if (f->state != DLP_FN_LOADING)
        return;
    if (code == 0) {
        dlp_sig sig;
        char text[256];
        snprintf(text, sizeof text, "%.*s", (int)len, msg);
        if (dlp_sig_parse(text, &sig, NULL) == 0) {
            f->sig = sig;
            return;
        }
        code = DLP_EPROTO;
        msg = "worker sent an unreadable signature";
        len = strlen(msg);
    }
    if (f->code == 0) {
        f->code = code;
        snprintf(f->msg, sizeof f->msg, "%.*s", (int)len, msg);
    }
}

/* A LOADED reply.  A replacement worker that cannot load a function the
 * pool already serves (the plugin file changed or went away, or its init
 * hook failed this time) retires its slot rather than be replaced by a
 * worker that will fail the same way. */
static int load_loaded(dlp__batch *b, dlp__worker *w, int code,
                       const char *msg, uint32_t len)
{
    dlp_pool *p = b->owner;
    if (p->fns[b->fn]->state == DLP_FN_OK && code != 0) {
        snprintf(p->last_loss, sizeof p->last_loss,
                 "a new worker could not load '%s': %.*s",
                 p->fns[b->fn]->ref, (int)len, msg);
        w->retired = 1;
        return DLP_EPROTO;
    }
    fn_answer(p, b->fn, code, msg, len);
    return 0;
}

/* Only the frame being worked on is to blame.  A function the pool
 * already serves is not failed by a replacement that crashed loading it:
 * that counts towards the restart intensity instead. */
static int load_lost(dlp__batch *b, dlp__worker *w,
                     const dlp__batch_loss *loss)
{
    dlp_pool *p = b->owner;
    (void)w;
    if (loss->first && p->fns[b->fn]->state != DLP_FN_OK) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "plugin '%s' killed the worker loading it: %s",
                 p->fns[b->fn]->path, loss->reason);
        fn_answer(p, b->fn, DLP_ENOPLUGIN, msg, strlen(msg));
    } else if (!loss->first && p->fns[b->fn]->pending) {
        p->fns[b->fn]->pending--;
    }
    dlp__batch_free(b);
    return 0;
}

static const dlp__batch_ops load_ops = {.loaded = load_loaded,
                                        .lost = load_lost};

/* The initializer's answer: a failure retires the worker's slot. */
static int init_result(dlp__batch *b, dlp__worker *w,
                       const dlp__result_rec *rec, pid_t pid,
                       const uint64_t *times, uint32_t attempts)
{
    (void)pid;
    (void)times;
    (void)attempts;
    if (rec->kind == DLP_R_OK)
        return 0;
    init_failed(b->owner, w, "%.*s", (int)rec->len,
                (const char *)rec->data);
    return DLP_EPROTO; /* the slot is retired */
}

static int init_lost(dlp__batch *b, dlp__worker *w,
                     const dlp__batch_loss *loss)
{
    if (loss->first)
        init_failed(b->owner, w, "%s", loss->reason);
    dlp__batch_free(b);
    return 0;
}

static const dlp__batch_ops init_ops = {
    .setup = 1, .result = init_result, .lost = init_lost};

/* Count a worker lost outside any task; past the restart intensity the
 * pool stops replacing workers.  Returns 1 if it did. */
static int count_restart(dlp_pool *p, const char *reason)
{
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

static void worker_lost(dlp_pool *p, dlp__worker *w, const char *why)
{
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
                 : reap_worker(p, w, why || w->kill_seq ? 0 : LOST_GRACE_MS);
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
            if (start_worker(p, w, &err) && w->fd >= 0) {
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

/* Kill the workers whose running task is past its job's timeout, and
 * return how long poll may sleep before the next deadline (-1: none). */
static int check_timeouts(dlp_pool *p)
{
    uint64_t now = dlp__now_ns(), next = UINT64_MAX;
    for (unsigned i = 0; i < p->nworkers; i++) {
        dlp__worker *w = &p->w[i];
        dlp__score *s = w->score;
        uint64_t seq, start, limit = 0;
        uint32_t job;
        if (w->fd < 0 || w->kill_seq)
            continue;
        if (__atomic_load_n(&s->busy, __ATOMIC_ACQUIRE) != DLP_SCORE_TASK) {
            /* Not in a task yet, but holding tasks with a timeout: the
             * next one starts any moment, and its deadline is at most one
             * timeout away.  Look again by then. */
            for (dlp__batch *b = w->head; b; b = b->next) {
                uint64_t l;
                if ((l = b->timeout_ns) && now + l < next)
                    next = now + l;
            }
            continue;
        }
        seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        start = s->start_ns;
        job = s->job;
        /* The worker may have moved on while we read: look next round. */
        if (__atomic_load_n(&s->busy, __ATOMIC_ACQUIRE) != DLP_SCORE_TASK ||
            __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != seq) {
            next = now + 1000000;
            continue;
        }
        for (dlp__batch *b = w->head; b; b = b->next) {
            if (b->type == DLP_F_BATCH && b->job_id == job) {
                limit = b->timeout_ns;
                break;
            }
        }
        if (!limit)
            continue;
        if (now - start >= limit) {
            w->kill_seq = seq;
            w->kill_after_ns = limit;
            kill_worker(w); /* its end-of-file does the rest */
        } else if (start + limit < next) {
            next = start + limit;
        }
    }
    if (next == UINT64_MAX)
        return -1;
    return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

static int handle_frame(dlp_pool *p, dlp__worker *w, const dlp__hdr *h,
                        const unsigned char *payload)
{
    dlp__batch *b = w->head;
    dlp__rd r;
    dlp__rd_init(&r, payload, h->len);

    if (!b)
        return DLP_EPROTO; /* a reply nobody asked for */
    if (h->type == DLP_F_LOADED) {
        const char *msg;
        uint32_t len;
        if (b->type != DLP_F_LOAD || h->a != b->fn ||
            !code_ok((int)h->b) || dlp__get_str(&r, &msg, &len, 0))
            return DLP_EPROTO;
        if (b->ops->loaded(b, w, (int)h->b, msg, len))
            return DLP_EPROTO;
    } else if (h->type == DLP_F_RESULTS) {
        const dlp__batch_ops *ops = b->ops;
        uint64_t busy;
        uint32_t pid = (uint32_t)w->pid;
        if (b->type != DLP_F_BATCH || h->a != b->job_id || h->b == 0 ||
            h->b > b->count - b->done || dlp__get_u64(&r, &busy))
            return DLP_EPROTO;
        /* Only an agent names the workers that ran its results. */
        if ((h->flags & (DLP_RESULTS_PID | DLP_RESULTS_PIDS)) && !w->link)
            return DLP_EPROTO;
        if ((h->flags & DLP_RESULTS_PID) && dlp__get_u32(&r, &pid))
            return DLP_EPROTO;
        for (uint32_t i = 0; i < h->b; i++) {
            dlp__result_rec rec;
            if (dlp__result_next(&r, &rec) ||
                (rec.kind == DLP_R_LOST && !w->link))
                return DLP_EPROTO; /* a worker never sends LOST */
            /* The reply must answer the next task of the batch.  The batch
             * is our own frame, with a record at scan while done < count
             * (checked above): read it directly. */
            const unsigned char *task = b->frame.p + b->scan;
            if (dlp__task_rec_index(task) != rec.index)
                return DLP_EPROTO;
            b->scan += dlp__task_rec_size(task);
            b->done++;
            if (!ops->setup)
                w->answered++;
            uint64_t times[2];
            const uint64_t *t = NULL;
            if (h->flags & DLP_BATCH_TIMES) {
                if (dlp__get_u64(&r, &times[0]) ||
                    dlp__get_u64(&r, &times[1]))
                    return DLP_EPROTO;
                t = times;
            }
            uint32_t rpid = pid, attempts = 0;
            if ((h->flags & DLP_RESULTS_PIDS) &&
                (dlp__get_u32(&r, &rpid) || dlp__get_u32(&r, &attempts)))
                return DLP_EPROTO;
            if (ops->result &&
                ops->result(b, w, &rec, (pid_t)rpid, t, attempts))
                return DLP_EPROTO;
        }
        if (r.p != r.end)
            return DLP_EPROTO;
        if (ops->results)
            ops->results(b, h, payload, busy, w->pid);
        if (b->done < b->count)
            return 0;
        w->nbatches--;
    } else {
        return DLP_EPROTO;
    }
    /* The head frame is answered in full. */
    w->head = b->next;
    if (!w->head)
        w->tail = NULL;
    if (w->send == b) /* cannot happen: answered means sent */
        w->send = b->next;
    dlp__batch_recycle(p, b);
    return 0;
}

/* Read what the worker sent and handle every whole frame. */
static void read_worker(dlp_pool *p, dlp__worker *w)
{
    for (;;) {
        ssize_t r;
        size_t off = 0;
        if (dlp__buf_reserve(&w->in, 64 * 1024)) {
            worker_lost(p, w, "out of memory reading its results");
            return;
        }
        r = read(w->fd, w->in.p + w->in.len, w->in.cap - w->in.len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            worker_lost(p, w, NULL);
            return;
        }
        if (r == 0) {
            worker_lost(p, w, NULL);
            return;
        }
        w->in.len += (size_t)r;
        while (w->in.len - off >= DLP_HDR_SIZE) {
            dlp__hdr h;
            dlp__hdr_unpack(w->in.p + off, &h);
            if (h.len > DLP_FRAME_MAX) {
                kill_worker(w);
                worker_lost(p, w, "sent a frame over the size limit");
                return;
            }
            if (w->in.len - off - DLP_HDR_SIZE < h.len) {
                /* Make room for the whole frame at once. */
                if (off == 0 &&
                    dlp__buf_reserve(&w->in, DLP_HDR_SIZE + h.len -
                                                 w->in.len)) {
                    worker_lost(p, w, "out of memory reading a result");
                    return;
                }
                break;
            }
            if (handle_frame(p, w, &h, w->in.p + off + DLP_HDR_SIZE)) {
                kill_worker(w);
                worker_lost(p, w, w->retired ? "retired"
                                             : "sent a malformed frame");
                return;
            }
            off += DLP_HDR_SIZE + h.len;
        }
        if (off) {
            memmove(w->in.p, w->in.p + off, w->in.len - off);
            w->in.len -= off;
            if (w->in.cap > (4u << 20) && w->in.len < (64u << 10)) {
                /* One huge result must not pin its buffer for good. */
                unsigned char *small = realloc(w->in.p, 64u << 10);
                if (small) {
                    w->in.p = small;
                    w->in.cap = 64u << 10;
                }
            }
        }
        if ((size_t)r < 4096)
            return; /* likely drained; poll tells us about more */
    }
}

int dlp__pool_drive(dlp_pool *p, int extra_fd, int nowait)
{
    return dlp__pool_drive_until(p, extra_fd, nowait ? 1 : 0);
}

unsigned dlp__pool_live_slots(dlp_pool *p, unsigned *slots)
{
    unsigned n = 0;
    for (unsigned i = 0; i < p->nworkers; i++)
        if (p->w[i].fd >= 0)
            slots[n++] = i;
    return n;
}

uint64_t dlp__pool_deadline(double timeout)
{
    uint64_t d;
    /* Negative is none; so is anything past 10^9 s (31 years), whose
     * nanoseconds would not fit.  Callers refuse NaN. */
    if (!(timeout >= 0) || timeout > 1e9)
        return 0;
    d = dlp__now_ns() + (uint64_t)(timeout * 1e9);
    return d < 2 ? 2 : d; /* 0 and 1 mean "none" and "now" */
}

void dlp__pool_wake(dlp_pool *p)
{
    uint64_t one = 1;
    ssize_t rc = write(p->wakefd, &one, sizeof one);
    (void)rc;
}

/* deadline_ns: 0 none, 1 do not wait, else a dlp__now_ns time. */
int dlp__pool_drive_until(dlp_pool *p, int extra_fd, uint64_t deadline_ns)
{
    struct pollfd pfd[2 + 256];
    struct pollfd *fds = pfd;
    unsigned n = 0, base;
    int extra_ready = 0;
    int nowait = deadline_ns == 1;

    if (p->stopping && !nowait) {
        /* Another thread is stopping the workers and waits for the loop
         * to step aside: let it. */
        pthread_cond_wait(&p->cv, &p->mu);
        return 1;
    }
    if (p->driving || p->stopping) {
        if (nowait)
            return 0;
        if (extra_fd < 0 && deadline_ns == 0) {
            pthread_cond_wait(&p->cv, &p->mu);
            return 0;
        }
        /* The driver does not poll our descriptor, or we must be back by
         * a deadline: look again soon. */
        struct timespec ts;
        uint64_t now = dlp__now_ns();
        uint64_t wait_ns = 10000000;
        if (deadline_ns) {
            uint64_t left = deadline_ns > now ? deadline_ns - now : 0;
            if (extra_fd < 0 || left < wait_ns)
                wait_ns = left;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(wait_ns / 1000000000u);
        ts.tv_nsec += (long)(wait_ns % 1000000000u);
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        return 1;
    }
    p->driving = 1;
    if (p->nworkers + 2 > sizeof pfd / sizeof pfd[0]) {
        fds = malloc((p->nworkers + 2) * sizeof *fds);
        if (!fds) {
            p->driving = 0;
            return 1;
        }
    }
    fds[n].fd = p->wakefd;
    fds[n].events = POLLIN;
    fds[n].revents = 0;
    n++;
    fds[n].fd = extra_fd;
    fds[n].events = POLLIN;
    fds[n].revents = 0;
    n++;
    base = n;
    for (unsigned i = 0; i < p->nworkers; i++) {
        dlp__worker *w = &p->w[i];
        fds[n].fd = w->fd; /* -1 is ignored by poll */
        fds[n].events = (short)(POLLIN | (w->send ? POLLOUT : 0));
        fds[n].revents = 0;
        n++;
    }
    int timeout = nowait ? 0 : check_timeouts(p);
    int64_t wait_ns = timeout < 0 ? -1 : (int64_t)timeout * 1000000;
    if (deadline_ns > 1) {
        /* To the nanosecond: an agent on a channel naps for microseconds. */
        uint64_t now = dlp__now_ns();
        int64_t left = deadline_ns <= now ? 0 : (int64_t)(deadline_ns - now);
        if (wait_ns < 0 || left < wait_ns)
            wait_ns = left;
    }
    struct timespec ts = {(time_t)(wait_ns / 1000000000),
                          (long)(wait_ns % 1000000000)};
    pthread_mutex_unlock(&p->mu);
    int rc = ppoll(fds, n, wait_ns < 0 ? NULL : &ts, NULL);
    pthread_mutex_lock(&p->mu);
    if (rc > 0) {
        if (fds[0].revents) {
            uint64_t v;
            ssize_t rr = read(p->wakefd, &v, sizeof v);
            (void)rr;
        }
        extra_ready = fds[1].revents != 0;
        for (unsigned i = 0; i < p->nworkers; i++) {
            dlp__worker *w = &p->w[i];
            short re = fds[base + i].revents;
            if (!re || w->fd != fds[base + i].fd)
                continue;
            if (re & POLLOUT)
                flush_worker(p, w);
            if (w->fd >= 0 && (re & (POLLIN | POLLHUP | POLLERR)))
                read_worker(p, w);
        }
    } else if (rc < 0) {
        extra_ready = 1; /* EINTR: let the caller look again */
    }
    if (fds != pfd)
        free(fds);
    if (p->feedq)
        p->jobs->pump(p); /* internal jobs with tasks left to send */
    p->driving = 0;
    pthread_cond_broadcast(&p->cv);
    return extra_ready;
}

static int run_initializer(dlp_pool *p, const dlp_pool_options *opts,
                           dlp_error *err);
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
        if ((rc = start_worker(p, &p->w[i], err))) {
            dlp_pool_destroy(p);
            return rc;
        }
    }
    if (opts->initializer && (rc = run_initializer(p, opts, err))) {
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

/* Resolve the initializer, encode its arguments, send its call to every
 * worker and wait for all of them to answer. */
static int run_initializer(dlp_pool *p, const dlp_pool_options *opts,
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
        dlp__pool_send(p, w, b);
    }
    for (;;) {
        unsigned waiting = 0;
        if (p->init_failed)
            break;
        for (unsigned i = 0; i < p->nworkers; i++)
            waiting += p->w[i].fd >= 0 && init_pending(&p->w[i]);
        if (!waiting)
            break;
        dlp__pool_drive(p, -1, 0);
    }
    rc = 0;
    if (p->init_failed)
        rc = dlp__err(err, DLP_EINIT, "%s", p->init_msg);
    else if (dlp__pool_alive(p) == 0)
        rc = dlp__err(err, DLP_EWORKER, "every worker was lost running the "
                                        "initializer (the last: %s)",
                      p->last_loss);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

DLP_API void dlp_pool_interrupt(dlp_pool *p)
{
    if (!p)
        return;
    /* Only an atomic store and a write(): both async-signal-safe. */
    __atomic_store_n(&p->interrupted, 1, __ATOMIC_RELEASE);
    dlp__pool_wake(p);
}

DLP_API unsigned dlp_pool_workers(const dlp_pool *pool)
{
    return dlp__handle_live(pool, DLP__H_POOL) ? pool->nworkers : 0;
}

DLP_API int dlp_pool_fn(dlp_pool *p, const char *ref, const char *sig,
                        dlp_error *err)
{
    const char *colon;
    dlp__fnent *f;
    dlp_sig parsed;
    char *path = NULL;
    uint32_t id;
    int rc;

    if (!p || !ref)
        return dlp__err(err, DLP_EINVAL, "dlp_pool_fn: NULL argument");
    if (!dlp__handle_live(p, DLP__H_POOL))
        return dlp__handle_bad(err, "dlp_pool_fn", "pool");
    colon = strrchr(ref, ':');
    if (!colon || !colon[1])
        return dlp__err(err, DLP_EINVAL,
                        "'%s' is not a function reference: expected "
                        "PLUGIN:SYMBOL (or :SYMBOL for the program's own)",
                        ref);
    if (sig && *sig && (rc = dlp_sig_parse(sig, &parsed, err)))
        return rc;
    if (sig && !*sig)
        sig = NULL;

    pthread_mutex_lock(&p->mu);
    if (p->closed) {
        pthread_mutex_unlock(&p->mu);
        return dlp__err(err, DLP_ECLOSED, "the pool is closed");
    }
    for (id = 0; id < p->nfns; id++) {
        f = p->fns[id];
        if (f->state == DLP_FN_OK && strcmp(f->ref, ref) == 0 &&
            (sig ? f->sig_given && strcmp(f->sig_given, sig) == 0
                 : !f->sig_given)) {
            pthread_mutex_unlock(&p->mu);
            return (int)id;
        }
    }
    {
        char plugin[4096];
        size_t plen = (size_t)(colon - ref);
        if (plen >= sizeof plugin) {
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, DLP_EINVAL, "plugin name too long");
        }
        memcpy(plugin, ref, plen);
        plugin[plen] = 0;
        if (plen == 0 && !(path = strdup(""))) {
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, -ENOMEM, "out of memory");
        }
        if (plen && (rc = dlp__plugin_find(plugin, p->plugin_path, &path,
                                           err))) {
            pthread_mutex_unlock(&p->mu);
            return rc;
        }
    }
    /* Entries are allocated one by one, so a pointer to an entry's
     * signature (dlp_pool_fn_sig) stays valid as the table grows. */
    if (p->nfns == p->capfns) {
        size_t cap = p->capfns ? p->capfns * 2 : 8;
        dlp__fnent **nf = realloc(p->fns, cap * sizeof *nf);
        if (!nf) {
            free(path);
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, -ENOMEM, "out of memory");
        }
        p->fns = nf;
        p->capfns = cap;
    }
    id = (uint32_t)p->nfns;
    f = p->fns[id] = calloc(1, sizeof *f);
    if (!f) {
        free(path);
        pthread_mutex_unlock(&p->mu);
        return dlp__err(err, -ENOMEM, "out of memory");
    }
    f->ref = strdup(ref);
    f->symbol = strdup(colon + 1);
    f->sig_given = sig ? strdup(sig) : NULL;
    f->path = path;
    if (!f->ref || !f->symbol || (sig && !f->sig_given)) {
        free(f->ref);
        free(f->symbol);
        free(f->sig_given);
        free(path);
        free(f);
        pthread_mutex_unlock(&p->mu);
        return dlp__err(err, -ENOMEM, "out of memory");
    }
    p->nfns++;
    f->state = DLP_FN_LOADING;
    for (unsigned i = 0; i < p->nworkers; i++) {
        dlp__worker *w = &p->w[i];
        dlp__batch *b;
        if (w->fd < 0)
            continue;
        if (!(b = make_load(p, id))) {
            f->code = -ENOMEM;
            snprintf(f->msg, sizeof f->msg, "out of memory");
            break;
        }
        p->fns[id]->pending++;
        dlp__pool_send(p, w, b);
    }
    /* The table may move while we drive (another thread may add to it),
     * so always index it afresh. */
    while (p->fns[id]->pending > 0 && dlp__pool_alive(p) > 0) {
        if (__atomic_exchange_n(&p->interrupted, 0, __ATOMIC_ACQ_REL)) {
            p->fns[id]->state = DLP_FN_FAILED;
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, -EINTR, "interrupted while loading '%s'",
                            ref);
        }
        dlp__pool_drive(p, -1, 0);
    }
    f = p->fns[id];
    if (f->code == 0 && dlp__pool_alive(p) == 0) {
        f->code = DLP_EWORKER;
        snprintf(f->msg, sizeof f->msg, "no worker is alive to load '%s'",
                 ref);
    }
    if (f->code) {
        f->state = DLP_FN_FAILED;
        if (f->code == DLP_ENOPLUGIN && !strchr(f->path, '/')) {
            /* A bare name nobody found: say where we looked. */
            const char *env = p->plugin_path ? p->plugin_path
                                             : getenv("DLPOOL_PLUGIN_PATH");
            rc = dlp__err(err, f->code,
                          "plugin '%s' not found in %s%s%s, %s, or the "
                          "system's library path (%s)",
                          f->path, p->plugin_path ? "the plugin path" :
                          "DLPOOL_PLUGIN_PATH", env ? "=" : " (unset)",
                          env ? env : "", DLP_PLUGINDIR, f->msg);
        } else {
            rc = dlp__err(err, f->code, "%s", f->msg);
        }
        pthread_mutex_unlock(&p->mu);
        return rc;
    }
    f->state = DLP_FN_OK;
    pthread_mutex_unlock(&p->mu);
    return (int)id;
}

DLP_API const dlp_sig *dlp_pool_fn_sig(dlp_pool *p, int fn)
{
    const dlp_sig *s = NULL;
    if (fn < 0 || !dlp__handle_live(p, DLP__H_POOL))
        return NULL;
    pthread_mutex_lock(&p->mu);
    if ((size_t)fn < p->nfns && p->fns[fn]->state == DLP_FN_OK)
        s = &p->fns[fn]->sig;
    pthread_mutex_unlock(&p->mu);
    return s;
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

void dlp__pool_stop_workers(dlp_pool *p, int kill_now)
{
    /* Nobody may be polling the channels we are about to close; and no
     * waiting thread may start a new step meanwhile (it would hold the
     * lock from one step to the next, and we would never get our turn). */
    p->stopping++;
    while (p->driving) {
        dlp__pool_wake(p);
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
    uint64_t deadline = dlp__now_ns() + EXIT_GRACE_MS * 1000000ull;
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
    dlp__pool_stop_workers(p, 0);
    pthread_mutex_unlock(&p->mu);
    dlp__pool_free(p);
}

void dlp__pool_end(dlp_pool *p, const char *why, int kill_now)
{
    p->closed = 1;
    p->terminated = 1;
    snprintf(p->last_loss, sizeof p->last_loss, "%s", why);
    if (p->jobs)
        p->jobs->abort_all(p, DLP_FAIL_CANCELLED, why);
    dlp__pool_stop_workers(p, kill_now);
    p->joined = 1;
}

DLP_API void dlp_pool_destroy(dlp_pool *p)
{
    /* A pool destroyed already (or never made) is not touched: its memory
     * may be gone, or be another object's by now. */
    if (!p || !dlp__handle_drop(p, DLP__H_POOL))
        return;
    pthread_mutex_lock(&p->mu);
    if (!p->open_jobs && !p->internal_jobs) {
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
    int last = !p->open_jobs && !p->internal_jobs;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (last)
        dlp__pool_free(p);
}

DLP_API int dlp_plugin_inspect(const char *plugin, const char *plugin_path,
                               char **plugin_name, unsigned *abi,
                               dlp_inspect_fn fn, void *ud, dlp_error *err)
{
    char *path = NULL;
    pid_t pid;
    int fd, rc, st;
    dlp__buf out = {0};
    unsigned char hb[DLP_HDR_SIZE];
    dlp__hdr h;
    long off;

    if (plugin_name)
        *plugin_name = NULL;
    if (!plugin)
        return dlp__err(err, DLP_EINVAL, "dlp_plugin_inspect: NULL plugin");
    if ((rc = dlp__plugin_find(plugin, plugin_path, &path, err)))
        return rc;
    if ((rc = dlp__worker_spawn(&pid, &fd, NULL, NULL, err))) {
        free(path);
        return rc;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    off = dlp__frame_begin(&out, DLP_F_INSPECT, 0, 0);
    if (off < 0 || dlp__put_str(&out, path, strlen(path), 1) ||
        dlp__frame_end(&out, off)) {
        rc = dlp__err(err, -ENOMEM, "out of memory");
        goto done;
    }
    {
        struct msghdr mh;
        struct iovec iov = {out.p, out.len};
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)out.len) {
            rc = dlp__err(err, DLP_EWORKER,
                          "cannot talk to the inspecting worker");
            goto done;
        }
    }
    out.len = 0;
    rc = dlp__read_full(fd, hb, sizeof hb);
    if (rc == 0) {
        dlp__hdr_unpack(hb, &h);
        if (h.type != DLP_F_INSPECTED || h.len > (1u << 26) ||
            dlp__buf_reserve(&out, h.len) ||
            dlp__read_full(fd, out.p, h.len))
            rc = DLP_EPROTO;
    }
    if (rc) {
        close(fd);
        fd = -1;
        st = dlp__reap(pid, LOST_GRACE_MS);
        char status[96];
        dlp__describe_status(st, status, sizeof status);
        rc = dlp__err(err, DLP_ENOPLUGIN,
                      "plugin '%s' killed the worker loading it: %s", path,
                      status);
        goto done;
    }
    {
        dlp__rd r;
        const char *s;
        uint32_t n, cnt;
        dlp__rd_init(&r, out.p, h.len);
        if (dlp__get_str(&r, &s, &n, 0) || dlp__get_u32(&r, &cnt)) {
            rc = dlp__err(err, DLP_EPROTO, "malformed reply inspecting '%s'",
                          path);
            goto done;
        }
        if ((int32_t)h.a != 0) {
            int code = code_ok((int)(int32_t)h.a) ? (int)(int32_t)h.a
                                                   : DLP_EPROTO;
            rc = dlp__err(err, code, "%.*s", (int)n, s);
            goto done;
        }
        if (abi)
            *abi = h.b;
        if (plugin_name && !(*plugin_name = strndup(s, n))) {
            rc = dlp__err(err, -ENOMEM, "out of memory");
            goto done;
        }
        for (uint32_t i = 0; i < cnt; i++) {
            const char *fname, *fsig;
            uint32_t fl, sl;
            char a[256], b[256];
            if (dlp__get_str(&r, &fname, &fl, 0) ||
                dlp__get_str(&r, &fsig, &sl, 0)) {
                rc = dlp__err(err, DLP_EPROTO,
                              "malformed reply inspecting '%s'", path);
                goto done;
            }
            snprintf(a, sizeof a, "%.*s", (int)fl, fname);
            snprintf(b, sizeof b, "%.*s", (int)sl, fsig);
            if (fn)
                fn(ud, a, b);
        }
    }
    rc = 0;
done:
    if (fd >= 0) {
        close(fd);
        dlp__reap(pid, EXIT_GRACE_MS);
    }
    if (rc && plugin_name) {
        free(*plugin_name);
        *plugin_name = NULL;
    }
    dlp__buf_free(&out);
    free(path);
    return rc;
}
