/*
 * worker.c - the worker process: set-up after fork, and its loop.
 *
 * A worker reads frames from its channel, runs them in order, and writes
 * replies in the same order, so the parent can match every reply to the
 * oldest request it has outstanding.  It holds no other descriptor of the
 * pool, so closing the parent's end is always EOF here (the seed's
 * inherited-pipe trap cannot happen).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loader.h"
#include "sig.h"
#include "wire.h"
#include "worker.h"

/* Set by the lifeline thread when the pool's end of the channel is gone:
 * no further task is started.  Worker-process state, like the failure slot
 * in invoke.c. */
static int parent_gone;

/* The scoreboard entry of a worker that has none in a pool's page (the
 * short-lived worker of dlp_plugin_inspect): the lifeline reads it to know
 * whether plugin code is running. */
static dlp__score own_score;

/* Flush results to the parent once this much is buffered. */
#define FLUSH_BYTES (256u * 1024u)

typedef struct wctx {
    int fd;
    dlp__score *score;
    unsigned max_tasks, ran; /* leave after max_tasks (0: never) */
    int unsent;              /* a task ran since the last write to fd */
    dlp__loader loader;
    dlp__fn *fns; /* indexed by function id */
    unsigned char *fn_ok;
    size_t nfns;
    dlp__buf in, out;
} wctx;

/* Leave, flushing what plugin code wrote to stdio: _exit() skips
 * exit()'s flush, and standard output, a pipe or a file, is fully
 * buffered, so a task's printf without fflush, or a fini hook's, would be
 * lost.  The buffers copied from the caller by fork were emptied at set-up
 * (dlp__child_setup), so only the plugins' own data is written. */
static void wexit(wctx *w, int status)
{
    if (status == 0)
        dlp__unload_all(&w->loader);
    fflush(NULL);
    _exit(status);
}

static void flush_out(wctx *w)
{
    int rc;
    if (w->out.len && (rc = dlp__send_full(w->fd, w->out.p, w->out.len))) {
        if (rc != -EPIPE && w->unsent && w->score) {
            /* Not the pool's end going away (that is EPIPE): the channel
             * is no longer our socket, so plugin code closed or replaced
             * it.  A task ran since the last write did: the last one is
             * charged, as if it had died running (the scoreboard still
             * names it), rather than every task sent again and the loss
             * counted against the restart intensity. */
            __atomic_store_n(&w->score->busy, DLP_SCORE_TASK,
                             __ATOMIC_RELEASE);
            wexit(w, DLP_WEXIT_CHAN);
        }
        wexit(w, rc == -EPIPE ? DLP_WEXIT_IO : DLP_WEXIT_CHAN);
    }
    w->out.len = 0;
    w->unsent = 0;
}

static int grow_fns(wctx *w, uint32_t id)
{
    if (id >= w->nfns) {
        size_t n = w->nfns ? w->nfns : 8;
        while (n <= id)
            n *= 2;
        dlp__fn *f = realloc(w->fns, n * sizeof *f);
        unsigned char *ok = realloc(w->fn_ok, n);
        if (f)
            w->fns = f;
        if (ok)
            w->fn_ok = ok;
        if (!f || !ok)
            return -ENOMEM;
        /* A prepared cif points at its function's own atypes array, which
         * realloc may just have moved. */
        for (size_t i = 0; i < w->nfns; i++)
            if (ok[i])
                f[i].cif.arg_types = f[i].atypes;
        memset(ok + w->nfns, 0, n - w->nfns);
        w->nfns = n;
    }
    return 0;
}

static void do_load(wctx *w, const dlp__hdr *h, dlp__rd *r)
{
    const char *plugin, *symbol, *sig;
    uint32_t pl, sl, gl;
    dlp_error err = {0, ""};
    int rc;
    long off;
    char sigbuf[256];

    if (dlp__get_str(r, &plugin, &pl, 1) || dlp__get_str(r, &symbol, &sl, 1) ||
        dlp__get_str(r, &sig, &gl, 1) || h->a > 1u << 20)
        wexit(w, DLP_WEXIT_PROTO);
    if (grow_fns(w, h->a))
        wexit(w, DLP_WEXIT_NOMEM);
    if (w->score)
        __atomic_store_n(&w->score->busy, DLP_SCORE_LOAD, __ATOMIC_RELEASE);
    rc = dlp__load_fn(&w->loader, plugin, symbol, sig, &w->fns[h->a], &err);
    if (w->score)
        __atomic_store_n(&w->score->busy, DLP_SCORE_IDLE, __ATOMIC_RELEASE);
    w->fn_ok[h->a] = rc == 0;
    off = dlp__frame_begin(&w->out, DLP_F_LOADED, h->a, (uint32_t)rc);
    if (rc == 0) {
        dlp_sig_format(&w->fns[h->a].sig, sigbuf, sizeof sigbuf);
        dlp__put_str(&w->out, sigbuf, strlen(sigbuf), 0);
    } else {
        dlp__put_str(&w->out, err.msg, strlen(err.msg), 0);
    }
    if (off < 0 || dlp__frame_end(&w->out, off))
        wexit(w, DLP_WEXIT_NOMEM);
    flush_out(w);
}

static void do_inspect(wctx *w, dlp__rd *r)
{
    const char *plugin;
    uint32_t pl;
    const dlp_manifest *m = NULL;
    dlp_error err = {0, ""};
    int rc;
    long off;

    if (dlp__get_str(r, &plugin, &pl, 1))
        wexit(w, DLP_WEXIT_PROTO);
    /* Plugin code (its constructors) runs: the lifeline must end us if
     * the caller goes away meanwhile. */
    __atomic_store_n(&w->score->busy, DLP_SCORE_LOAD, __ATOMIC_RELEASE);
    rc = dlp__load_manifest(&w->loader, plugin, &m, &err);
    __atomic_store_n(&w->score->busy, DLP_SCORE_IDLE, __ATOMIC_RELEASE);
    if (rc == 0 && !m) {
        rc = dlp__err(&err, DLP_ENOSYM,
                      "'%s' has no dlpool manifest (symbol %s): it is a "
                      "plain shared library; call its functions with --sig",
                      plugin, DLP_MANIFEST_SYMBOL);
    }
    off = dlp__frame_begin(&w->out, DLP_F_INSPECTED, (uint32_t)rc,
                           rc ? 0 : m->abi);
    if (rc) {
        dlp__put_str(&w->out, err.msg, strlen(err.msg), 0);
        dlp__put_u32(&w->out, 0);
    } else {
        const char *name = m->name ? m->name : "";
        dlp__put_str(&w->out, name, strlen(name), 0);
        dlp__put_u32(&w->out, (uint32_t)m->nfns);
        for (size_t i = 0; i < m->nfns; i++) {
            const char *fname = m->fns[i].name ? m->fns[i].name : "";
            const char *fsig = m->fns[i].sig ? m->fns[i].sig : "";
            dlp__put_str(&w->out, fname, strlen(fname), 0);
            dlp__put_str(&w->out, fsig, strlen(fsig), 0);
        }
    }
    if (off < 0 || dlp__frame_end(&w->out, off))
        wexit(w, DLP_WEXIT_NOMEM);
    flush_out(w);
}

static void run_batch(wctx *w, const dlp__hdr *h, dlp__rd *r)
{
    uint32_t count = 0, done = 0;
    const dlp__fn *fn;
    long off;
    uint64_t t0;

    if (h->b >= w->nfns || !w->fn_ok[h->b] || dlp__get_u32(r, &count))
        wexit(w, DLP_WEXIT_PROTO);
    fn = &w->fns[h->b];
    while (done < count) {
        /* One RESULTS frame per FLUSH_BYTES of results, so a batch of
         * large results never needs one huge frame. */
        uint32_t n = 0;
        off = dlp__frame_begin(&w->out, DLP_F_RESULTS, h->a, 0);
        if (off < 0 || dlp__put_u64(&w->out, 0))
            wexit(w, DLP_WEXIT_NOMEM);
        t0 = dlp__now_ns();
        while (done < count && w->out.len - (size_t)off < FLUSH_BYTES) {
            uint64_t index;
            uint32_t arglen = 0;
            const unsigned char *args;
            dlp__rd ar;
            if (dlp__task_next(r, &index, &args, &arglen))
                wexit(w, DLP_WEXIT_PROTO);
            dlp__rd_init(&ar, args, arglen);
            if (__atomic_load_n(&parent_gone, __ATOMIC_ACQUIRE))
                wexit(w, DLP_WEXIT_IO); /* nobody is waiting for it */
            /* The clock is read only for a job with a timeout or one
             * that asked for times: most jobs pay nothing for it.  The
             * wall clock first: a pause between the two reads then starts
             * the reported span early, where it would have pushed its end
             * past the next task's start. */
            uint64_t rt0 = h->flags & DLP_BATCH_TIMES ? dlp__realtime_ns() : 0;
            uint64_t m0 = h->flags & (DLP_BATCH_TIMED | DLP_BATCH_TIMES)
                              ? dlp__now_ns()
                              : 0;
            if (w->score) {
                w->score->index = index;
                w->score->job = h->a;
                w->score->seq++;
                w->score->start_ns = m0;
                __atomic_store_n(&w->score->busy, DLP_SCORE_TASK,
                                 __ATOMIC_RELEASE);
            }
            int rc = dlp__invoke(fn, index, &ar, &w->out);
            if (rc == 0 && (h->flags & DLP_BATCH_TIMES) &&
                (dlp__put_u64(&w->out, rt0) ||
                 dlp__put_u64(&w->out, dlp__now_ns() - m0)))
                rc = -ENOMEM;
            if (w->score)
                __atomic_store_n(&w->score->busy, DLP_SCORE_IDLE,
                                 __ATOMIC_RELEASE);
            w->unsent = 1;
            /* The initializer's call (job UINT32_MAX) is set-up, not a
             * task: it does not count towards max_tasks. */
            if (h->a != UINT32_MAX)
                w->ran++;
            if (rc == DLP_EPROTO)
                wexit(w, DLP_WEXIT_PROTO);
            if (rc)
                wexit(w, DLP_WEXIT_NOMEM);
            done++;
            n++;
            if (w->max_tasks && w->ran >= w->max_tasks)
                break;
        }
        uint64_t busy = dlp__now_ns() - t0;
        uint16_t flags = h->flags & DLP_BATCH_TIMES;
        dlp__hdr_set_flags(w->out.p + off, flags);
        dlp__hdr_set_b(w->out.p + off, n);
        dlp__results_frame_set_busy(w->out.p + off, busy);
        if (dlp__frame_end(&w->out, off))
            wexit(w, DLP_WEXIT_NOMEM);
        flush_out(w);
        if (w->max_tasks && w->ran >= w->max_tasks) {
            /* Retire cleanly: the results so far are sent; the pool sends
             * every unanswered task to another worker and replaces us. */
            wexit(w, 0);
        }
    }
    if (r->p != r->end)
        wexit(w, DLP_WEXIT_PROTO);
}

void dlp__worker_main(int fd, dlp__score *score, const dlp__wopts *opts)
{
    wctx w;
    memset(&w, 0, sizeof w);
    w.fd = fd;
    w.score = score ? score : &own_score;
    w.max_tasks = opts ? opts->max_tasks : 0;
    for (;;) {
        unsigned char hb[DLP_HDR_SIZE];
        dlp__hdr h;
        dlp__rd r;
        int rc = dlp__read_full(fd, hb, sizeof hb);
        if (rc == 1)
            wexit(&w, 0); /* EOF: the pool closed our channel */
        if (rc)
            wexit(&w, DLP_WEXIT_IO);
        dlp__hdr_unpack(hb, &h);
        if (h.len > DLP_FRAME_MAX)
            wexit(&w, DLP_WEXIT_PROTO);
        w.in.len = 0;
        if (dlp__buf_reserve(&w.in, h.len))
            wexit(&w, DLP_WEXIT_NOMEM);
        if (dlp__read_full(fd, w.in.p, h.len))
            wexit(&w, DLP_WEXIT_IO);
        dlp__rd_init(&r, w.in.p, h.len);
        switch (h.type) {
        case DLP_F_LOAD:
            do_load(&w, &h, &r);
            break;
        case DLP_F_BATCH:
            run_batch(&w, &h, &r);
            break;
        case DLP_F_INSPECT:
            do_inspect(&w, &r);
            break;
        default:
            wexit(&w, DLP_WEXIT_PROTO);
        }
        /* One huge argument or result must not pin its buffer for good. */
        if (w.in.cap > (4u << 20))
            dlp__buf_free(&w.in);
        if (w.out.cap > (4u << 20))
            dlp__buf_free(&w.out);
    }
}

/* exit() in a worker (a task calling it): flush the worker's stdio and
 * leave at once with the status.  The rest of exit() would run the
 * caller's atexit handlers, copied by fork.  The caller's unwritten stdio
 * buffers, copied too, were emptied at set-up, so the flush writes only
 * what plugin code wrote. */
static void leave_now(int status, void *arg)
{
    (void)arg;
    fflush(NULL);
    _exit(status);
}

/* A SIGPIPE handler that does nothing: a write to a pipe whose reader is
 * gone (standard error, once whatever read it has died) fails with EPIPE
 * instead of killing the worker in whatever task printed.  A handler
 * rather than SIG_IGN, because an ignored signal stays ignored across
 * exec, and a program a plugin runs should find SIGPIPE as usual. */
static void on_sigpipe(int sig)
{
    (void)sig;
}

int dlp__channel_fd(void)
{
    struct rlimit rl;
    int fd = DLP_CHANNEL_FD_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur <= (rlim_t)fd)
        fd = rl.rlim_cur > 4 ? (int)rl.rlim_cur - 1 : 3;
    return fd;
}

int dlp__child_setup(int chan, pid_t parent, const dlp__wopts *opts)
{
    struct sigaction sa;
    sigset_t all;
    int null, fd;

    /* The caller's unwritten stdio buffers were copied by fork: drop them,
     * or a task that calls exit() would write them a second time. */
    __fpurge(stdout);
    __fpurge(stderr);
    /* Registered last, it runs first (see leave_now). */
    on_exit(leave_now, NULL);

    /* If the parent is already gone, leave now.  (No PR_SET_PDEATHSIG: it
     * fires when the thread that forked us exits, not the process; the
     * lifeline thread below watches the channel instead.) */
    if (getppid() != parent)
        _exit(DLP_WEXIT_IO);

    /* A process group of our own: a Ctrl-C at the terminal signals the
     * pool's process, which decides; it never kills tasks behind its
     * back. */
    setpgid(0, 0);

    if (opts && opts->memory_limit) {
        struct rlimit rl = {(rlim_t)opts->memory_limit,
                            (rlim_t)opts->memory_limit};
        setrlimit(RLIMIT_AS, &rl);
    }

    /* Signals: default dispositions, nothing blocked, so a crash in a
     * task kills this worker and the parent sees the signal.  Except:
     * SIGPIPE, so that a standard error nobody reads any more fails the
     * writes to it and no task (on_sigpipe); and job control, which must
     * not stop a worker: being in a process group of our own, a write to
     * the terminal under `stty tostop` would stop us with SIGTTOU, a read
     * with SIGTTIN, and nothing would ever continue us.  Ignored, a write
     * goes through and a read fails with EIO. */
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    signal(SIGTTOU, SIG_IGN);
    signal(SIGTTIN, SIG_IGN);
    signal(SIGTSTP, SIG_IGN);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);

    /* Descriptors: stdin from /dev/null, stdout to stderr, the channel,
     * nothing else.  First everything of the caller's but 0-2 and the
     * channel is closed (the channel is above 2 first: a caller that
     * closed a standard stream may have had it made there). */
    if (chan < 3) {
        fd = fcntl(chan, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            _exit(DLP_WEXIT_IO);
        close(chan);
        chan = fd;
    }
    if (chan > 3 && close_range(3, (unsigned)chan - 1, 0) < 0)
        for (fd = 3; fd < chan; fd++)
            close(fd);
    dlp__close_from(chan + 1);
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0 && null != 0)
        dup2(null, 0);
    /* Standard error is the caller's if it is open and meant to be
     * inherited; a close-on-exec descriptor at 2 is somebody's private
     * file, not a stream for us to write to. */
    int fl = fcntl(2, F_GETFD);
    if (fl < 0 || (fl & FD_CLOEXEC)) {
        if (null >= 0 && null != 2)
            dup2(null, 2);
    }
    dup2(2, 1);
    if (null > 2 && null != chan)
        close(null);
    /* The caller's other stdio streams still hold what they had not
     * written: flush them now, when their descriptors are closed (glibc
     * drops a buffer it could not write) or are our own 0-2, so that no
     * later flush of ours writes them into the channel. */
    fflush(NULL);

    /* The channel goes high (DLP_CHANNEL_FD_MAX, or the highest the
     * descriptor limit allows), close-on-exec: far from the numbers a
     * plugin's descriptor mistakes hit (a close(3), a write to a stale
     * descriptor), and out of the programs it runs. */
    fd = dlp__channel_fd();
    if (chan == fd) {
        fcntl(chan, F_SETFD, FD_CLOEXEC);
    } else {
        if (dup3(chan, fd, O_CLOEXEC) < 0)
            _exit(DLP_WEXIT_IO);
        close(chan);
    }
    return fd;
}

/* The lifeline: a thread that waits for the pool's end of the channel to
 * close.  Then the pool's process has died or is destroying the pool, and
 * nobody wants what this worker is doing: a worker in a task (or loading a
 * plugin) leaves at once; an idle one starts nothing more and leaves by its
 * loop's end-of-file, running the plugins' fini hooks. */
typedef struct lifeline_arg {
    dlp__score *score;
    int fd;
} lifeline_arg;

static void *lifeline(void *arg)
{
    const lifeline_arg *a = arg;
    struct pollfd pfd = {a->fd, POLLRDHUP, 0};
    int busy;
    while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
        ;
    busy = __atomic_load_n(&a->score->busy, __ATOMIC_ACQUIRE) !=
           DLP_SCORE_IDLE;
    if (pfd.revents & POLLNVAL) {
        /* Not the pool gone: plugin code closed the channel under us.  In
         * a task, that task is charged as flush_out charges it (the same
         * status, the same message); between tasks, the next write of
         * results finds it.  Either way, nothing more to watch. */
        if (busy)
            _exit(DLP_WEXIT_CHAN);
        return NULL;
    }
    __atomic_store_n(&parent_gone, 1, __ATOMIC_RELEASE);
    if (busy) {
        /* Flush what plugin code printed, unless the task holds a
         * stream's lock (it is printing): waiting for it could be
         * waiting for ever. */
        FILE *f[2] = {stdout, stderr};
        for (int i = 0; i < 2; i++) {
            if (ftrylockfile(f[i]) == 0) {
                fflush_unlocked(f[i]);
                funlockfile(f[i]);
            }
        }
        _exit(DLP_WEXIT_IO);
    }
    return NULL;
}

static void start_lifeline(dlp__score *score, int fd)
{
    static lifeline_arg arg;
    pthread_attr_t attr;
    pthread_t t;
    arg.score = score;
    arg.fd = fd;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Without it the worker still leaves at end-of-file, only later. */
    (void)pthread_create(&t, &attr, lifeline, &arg);
    pthread_attr_destroy(&attr);
}

int dlp__worker_spawn(pid_t *pid, int *fd, dlp__score *score,
                      const dlp__wopts *opts, dlp_error *err)
{
    int sv[2], saved;
    pid_t parent = getpid(), p;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        saved = errno;
        return dlp__err(err, -saved, "cannot create a worker channel: %s",
                        dlp_strerror(-saved));
    }
    if (score)
        memset(score, 0, sizeof *score);
    p = fork();
    if (p < 0) {
        saved = errno;
        close(sv[0]);
        close(sv[1]);
        return dlp__err(err, -saved, "cannot fork a worker: %s",
                        dlp_strerror(-saved));
    }
    if (p == 0) {
        int chan;
        if (!score)
            score = &own_score;
        close(sv[0]);
        chan = dlp__child_setup(sv[1], parent, opts);
        start_lifeline(score, chan);
        dlp__worker_main(chan, score, opts);
    }
    close(sv[1]);
    sv[0] = dlp__fd_above_stdio(sv[0]);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    *pid = p;
    *fd = sv[0];
    return 0;
}
