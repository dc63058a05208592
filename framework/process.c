/*
 * process.c - one plugin function in a process of its own, with a duplex
 * channel of values to it: Python's Process and Pipe.
 *
 * The seed's first example hangs because the child inherits the parent's
 * end of the pipe, so closing that end in the parent is never end of file
 * for the child.  Here the parent's end is opened close-on-exec and the
 * child closes every descriptor but its own end before any plugin code
 * runs, so closing the parent's end (dlp_chan_close, dlp_process_destroy,
 * or the parent's death) is always end of file in the child, and the
 * child's exit is always end of file in the parent.  A process started
 * later does not hold the channels of those started before it either.
 *
 * A message on a channel is a u32 length (host byte order, as everywhere
 * on the wire: both ends are forks of one program) and the value's wire
 * form (framework/val.c).  Before any value, the child sends one status
 * message of the same shape whose payload is an i32 code and the error
 * message: 0 once the function is resolved and its plugin initialised,
 * or the load error.  dlp_process_start reads it, so a load error is
 * returned by the call that asked for the load.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loader.h"
#include "val.h"
#include "worker.h"

/* How long destroy waits for a process whose channel it closed before it
 * kills it. */
#define DESTROY_GRACE_MS 100

/* A message's payload is read in pieces that start at this size and
 * double: the memory a message takes grows with the bytes that have
 * actually arrived, never with the length a peer claims. */
#define RECV_CHUNK (64u * 1024u)

/* The longest message a status carries: what fits in a dlp_error. */
#define STATUS_MSG_MAX (sizeof((dlp_error *)0)->msg)

/* One end of a channel.  Used by one thread at a time (dlpool/val.h). */
struct dlp_chan {
    int fd;
    int broken;         /* a malformed message was read: the stream is lost */
    dlp__buf out;       /* the message being sent */
    dlp__buf in;        /* the message being received */
};

/*
 * A started process.  mu guards ended, lost and status, and makes reaping
 * and signalling exclusive: the child is reaped only under mu, and until
 * then its pid cannot be reused (it is at worst a zombie), so kill() under
 * mu never reaches another process.  Waiting happens outside mu with
 * WNOWAIT, which leaves the zombie in place.
 */
struct dlp_process {
    dlp_chan chan; /* the parent's end */
    pid_t pid;
    pthread_mutex_t mu;
    int ended;  /* reaped; status is its wait status */
    int lost;   /* reaped by somebody else (SIGCHLD ignored): no status */
    int status;
};

/* ---- channels ------------------------------------------------------ */

DLP_API int dlp_chan_send(dlp_chan *c, const dlp_val *v)
{
    uint32_t len;
    int rc;

    if (!c || c->fd < 0)
        return DLP_EINVAL;
    c->out.len = 0;
    if ((rc = dlp__buf_reserve(&c->out, 4 + 64)))
        return rc;
    c->out.len = 4;
    /* dlp__val_put refuses values deeper than DLP_VAL_MAX_DEPTH and wire
     * forms over DLP_FRAME_MAX (1 GiB) with DLP_ETOOBIG, so whatever we
     * send the peer's dlp_chan_recv accepts. */
    rc = dlp__val_put(&c->out, v);
    if (rc == 0) {
        len = (uint32_t)(c->out.len - 4);
        memcpy(c->out.p, &len, 4);
        rc = dlp__send_full(c->fd, c->out.p, c->out.len);
    }
    /* One huge value must not pin its buffer for the channel's life. */
    if (c->out.cap > (4u << 20))
        dlp__buf_free(&c->out);
    return rc;
}

/* Read exactly n bytes.  Returns 0, 1 on end of file before the first
 * byte, DLP_EPROTO on end of file after it, or -errno. */
static int recv_full(int fd, void *p, size_t n)
{
    int rc = dlp__read_full(fd, p, n);
    if (rc == -EPIPE)
        return DLP_EPROTO; /* end of file in the middle: truncated */
    if (rc == -ECONNRESET)
        return 1; /* the peer is gone, like end of file */
    return rc;
}

DLP_API int dlp_chan_recv(dlp_chan *c, dlp_val **out)
{
    unsigned char hdr[4];
    uint32_t len;
    size_t got = 0, step = RECV_CHUNK;
    dlp__rd r;
    int rc;

    if (out)
        *out = NULL;
    if (!c || !out || c->fd < 0)
        return DLP_EINVAL;
    /* After a malformed message the next byte is not known to start a
     * message: nothing read from here on can be trusted. */
    if (c->broken)
        return DLP_EPROTO;
    rc = recv_full(c->fd, hdr, sizeof hdr);
    if (rc == 1)
        return 0; /* end of file at a message boundary */
    if (rc)
        goto fail;
    memcpy(&len, hdr, 4);
    /* Every value takes a byte at least, and no sender makes a message
     * over DLP_FRAME_MAX: anything else is not one of ours. */
    if (len == 0 || len > DLP_FRAME_MAX) {
        rc = DLP_EPROTO;
        goto fail;
    }
    c->in.len = 0;
    while (got < len) {
        size_t want = len - got < step ? len - got : step;
        if ((rc = dlp__buf_reserve(&c->in, want)))
            goto fail;
        rc = recv_full(c->fd, c->in.p + got, want);
        if (rc == 1)
            rc = DLP_EPROTO;
        if (rc)
            goto fail;
        got += want;
        c->in.len = got;
        step *= 2;
    }
    dlp__rd_init(&r, c->in.p, len);
    rc = dlp__val_get(&r, out);
    if (rc == 0 && r.p != r.end) {
        /* One message is one value: trailing bytes are malformed. */
        dlp_val_free(*out);
        *out = NULL;
        rc = DLP_EPROTO;
    }
    if (rc)
        goto fail;
    if (c->in.cap > (4u << 20))
        dlp__buf_free(&c->in);
    return 1;
fail:
    if (rc == DLP_EPROTO)
        c->broken = 1;
    if (c->in.cap > (4u << 20))
        dlp__buf_free(&c->in);
    return rc;
}

DLP_API int dlp_chan_close(dlp_chan *c)
{
    /* shutdown, not close: the descriptor stays valid for receiving, and
     * the peer sees end of file even if some other process holds a copy
     * of our end. */
    if (c && c->fd >= 0)
        shutdown(c->fd, SHUT_WR);
    return 0;
}

/* ---- the child ----------------------------------------------------- */

/* The status message: u32 length, i32 code, the message's bytes. */
static int send_status(int fd, int code, const char *msg)
{
    unsigned char buf[4 + 4 + STATUS_MSG_MAX];
    size_t n = strlen(msg);
    uint32_t len;
    int32_t c = code;
    if (n > STATUS_MSG_MAX - 1)
        n = STATUS_MSG_MAX - 1;
    len = (uint32_t)(4 + n);
    memcpy(buf, &len, 4);
    memcpy(buf + 4, &c, 4);
    memcpy(buf + 8, msg, n);
    return dlp__send_full(fd, buf, 8 + n);
}

static void child_main(int chan, pid_t parent, const char *path,
                       const char *symbol)
#if defined(__GNUC__)
    __attribute__((noreturn))
#endif
    ;

static void child_main(int chan, pid_t parent, const char *path,
                       const char *symbol)
{
    dlp__loader loader = {NULL};
    dlp__fn fn;
    dlp_error err = {0, ""};
    dlp_chan c;
    int32_t (*entry)(dlp_chan *);
    int rc;

    chan = dlp__child_setup(chan, parent, NULL);
    rc = dlp__load_fn(&loader, path, symbol, NULL, &fn, &err);
    if (rc == DLP_ENOSIG) {
        /* Without a manifest entry nothing says the symbol takes a
         * channel; calling it with one would be a guess. */
        rc = dlp__err(&err, DLP_ENOSIG,
                      "plugin '%s': '%s' has no manifest entry; a process "
                      "function must be declared in the manifest as "
                      "i32(chan)",
                      path, symbol);
    } else if (rc == 0 && (fn.sig.ret != DLP_T_I32 || fn.sig.nargs != 1 ||
                           fn.sig.args[0] != DLP_T_CHAN)) {
        char sig[256];
        dlp_sig_format(&fn.sig, sig, sizeof sig);
        rc = dlp__err(&err, DLP_ESIG,
                      "plugin '%s', function '%s' has signature '%s': a "
                      "process function is exactly i32(chan)",
                      path, symbol, sig);
    }
    if (send_status(chan, rc, rc ? err.msg : "") || rc) {
        fflush(NULL); /* what a failing init hook printed */
        _exit(DLP_WEXIT_IO);
    }

    memset(&c, 0, sizeof c);
    c.fd = chan;
    /* The manifest said i32(chan), so a direct call is the call libffi
     * would make. */
    memcpy(&entry, &fn.addr, sizeof entry);
    rc = entry(&c);
    dlp__buf_free(&c.out);
    dlp__buf_free(&c.in);
    dlp__unload_all(&loader);
    /* _exit skips stdio's exit flush: do it here, or what the function
     * (or a fini hook) printed last is lost. */
    fflush(NULL);
    _exit(rc & 255);
}

/* ---- the parent ---------------------------------------------------- */

/* Read the child's status message: its code (0: ready, or the load
 * error, whose message goes to err) into *code.  Returns 0, 1 when the
 * child ended before sending it, or DLP_EPROTO / -errno. */
static int read_status(int fd, int *code, dlp_error *err)
{
    unsigned char hdr[8];
    uint32_t len;
    int32_t c;
    char msg[STATUS_MSG_MAX];
    int rc = recv_full(fd, hdr, 4);
    if (rc)
        return rc;
    memcpy(&len, hdr, 4);
    if (len < 4 || len - 4 >= sizeof msg)
        return DLP_EPROTO;
    if ((rc = recv_full(fd, hdr + 4, 4)) || (rc = recv_full(fd, msg, len - 4)))
        return rc == 1 ? DLP_EPROTO : rc;
    msg[len - 4] = 0;
    memcpy(&c, hdr + 4, 4);
    /* A failure is negative and says what failed; anything else is not a
     * status our child sent. */
    if (c > 0 || (c < 0 && len == 4))
        return DLP_EPROTO;
    if (c < 0)
        dlp__err(err, c, "%s", msg);
    *code = c;
    return 0;
}

DLP_API int dlp_process_start(dlp_process **out, const char *ref,
                              const char *plugin_path, dlp_error *err)
{
    const char *colon;
    char plugin[4096], *path = NULL;
    size_t plen;
    dlp_process *p;
    pid_t parent = getpid(), pid;
    int sv[2], rc, saved, st, code = 0;

    if (out)
        *out = NULL;
    if (!out || !ref)
        return dlp__err(err, DLP_EINVAL, "dlp_process_start: NULL argument");
    colon = strrchr(ref, ':');
    if (!colon || colon == ref || !colon[1])
        return dlp__err(err, DLP_EINVAL,
                        "'%s' is not a function reference: expected "
                        "PLUGIN:SYMBOL",
                        ref);
    plen = (size_t)(colon - ref);
    if (plen >= sizeof plugin)
        return dlp__err(err, DLP_EINVAL, "plugin name too long");
    memcpy(plugin, ref, plen);
    plugin[plen] = 0;
    if ((rc = dlp__plugin_find(plugin, plugin_path, &path, err)))
        return rc;
    if (!(p = calloc(1, sizeof *p))) {
        free(path);
        return dlp__err(err, -ENOMEM, "out of memory");
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        saved = errno;
        free(path);
        free(p);
        return dlp__err(err, -saved, "cannot create a channel for '%s': %s",
                        ref, dlp_strerror(-saved));
    }
    pid = fork();
    if (pid < 0) {
        saved = errno;
        close(sv[0]);
        close(sv[1]);
        free(path);
        free(p);
        return dlp__err(err, -saved, "cannot fork a process for '%s': %s",
                        ref, dlp_strerror(-saved));
    }
    if (pid == 0) {
        /* The child needs neither the parent's end nor its handle. */
        close(sv[0]);
        free(p);
        child_main(sv[1], parent, path, colon + 1);
    }
    close(sv[1]);
    p->pid = pid;
    p->chan.fd = dlp__fd_above_stdio(sv[0]);
    pthread_mutex_init(&p->mu, NULL);

    rc = read_status(p->chan.fd, &code, err);
    if (rc == 0 && code == 0) {
        free(path);
        *out = p;
        return 0;
    }
    /* The child has reported its failure and is leaving, or has died, or
     * sent something that is not a status: in every case it is reaped
     * before we return, and never waited for without bound. */
    st = dlp__reap(pid, rc == 0 || rc == 1 ? 1000 : 0);
    if (rc == 0) {
        rc = code; /* the child's load error; err has its message */
    } else if (rc == 1) {
        char how[64] = "its status is lost";
        if (st != -1)
            dlp__describe_status(st, how, sizeof how);
        rc = dlp__err(err, DLP_ENOPLUGIN,
                      "cannot load plugin '%s' for '%s': the process ended "
                      "while loading it (%s)",
                      path, ref, how);
    } else if (rc == DLP_EPROTO) {
        rc = dlp__err(err, DLP_EPROTO,
                      "the process for '%s' sent a malformed status "
                      "message while loading plugin '%s'",
                      ref, path);
    } else {
        rc = dlp__err(err, rc,
                      "reading the status of the process for '%s': %s", ref,
                      dlp_strerror(rc));
    }
    close(p->chan.fd);
    pthread_mutex_destroy(&p->mu);
    free(p);
    free(path);
    return rc;
}

DLP_API dlp_chan *dlp_process_chan(dlp_process *p)
{
    return p ? &p->chan : NULL;
}

DLP_API pid_t dlp_process_pid(const dlp_process *p)
{
    return p ? p->pid : -1;
}

/* Reap the child if it has ended (never blocks).  Returns 1 when it has
 * ended (now or before), 0 when it runs.  Called with p->mu held. */
static int reap_locked(dlp_process *p)
{
    DLP_ASSERT_HELD(&p->mu);
    int st;
    pid_t r;
    if (p->ended || p->lost)
        return 1;
    do
        r = waitpid(p->pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == p->pid) {
        p->ended = 1;
        p->status = st;
        return 1;
    }
    if (r < 0) {
        /* ECHILD: the caller ignores SIGCHLD, or reaped it itself. */
        p->lost = 1;
        return 1;
    }
    return 0;
}

/* Wait until the child has ended without reaping it (WNOWAIT keeps the
 * zombie, and with it the pid, until reap_locked).  timeout < 0: no
 * limit.  Returns 0, -ETIMEDOUT, or -errno. */
static int wait_ended(pid_t pid, double timeout)
{
    siginfo_t si;
    uint64_t deadline = 0;
    long nap_ns = 50000;
    int flags = WEXITED | WNOWAIT;

    /* Beyond 30 years (or NaN) is no limit: it also keeps the deadline
     * in range. */
    if (timeout >= 0 && timeout < 1e9) {
        flags |= WNOHANG;
        deadline = dlp__now_ns() + (uint64_t)(timeout * 1e9);
    }
    for (;;) {
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)pid, &si, flags) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (si.si_pid == pid)
            return 0;
        /* Only with WNOHANG: still running.  Short naps first, as in
         * dlp__reap: a process whose channel just closed is usually gone
         * within microseconds. */
        uint64_t now = dlp__now_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        struct timespec ts = {0, nap_ns};
        if ((uint64_t)nap_ns > deadline - now)
            ts.tv_nsec = (long)(deadline - now);
        nanosleep(&ts, NULL);
        if (nap_ns < 5000000)
            nap_ns *= 2;
    }
}

DLP_API int dlp_process_join(dlp_process *p, double timeout, int *status,
                             dlp_error *err)
{
    int rc;

    if (!p)
        return dlp__err(err, DLP_EINVAL, "dlp_process_join: NULL process");
    /* NaN compares false with everything: it would be taken for no limit
     * where the caller meant some limit. */
    if (isnan(timeout))
        return dlp__err(err, DLP_EINVAL, "dlp_process_join: timeout is NaN");
    pthread_mutex_lock(&p->mu);
    if (!p->ended && !p->lost) {
        pthread_mutex_unlock(&p->mu);
        rc = wait_ended(p->pid, timeout);
        pthread_mutex_lock(&p->mu);
        /* Another thread may have reaped it meanwhile (then waitid saw no
         * child): what it recorded is the answer. */
        if (rc == 0 || rc == -ECHILD)
            reap_locked(p);
        if (!p->ended && !p->lost) {
            pthread_mutex_unlock(&p->mu);
            if (rc == -ETIMEDOUT)
                return dlp__err(err, rc,
                                "process %d is still running after %g s",
                                (int)p->pid, timeout);
            return dlp__err(err, rc ? rc : -ECHILD,
                            "cannot wait for process %d: %s", (int)p->pid,
                            dlp_strerror(rc ? rc : -ECHILD));
        }
    }
    if (p->lost) {
        pthread_mutex_unlock(&p->mu);
        return dlp__err(err, -ECHILD,
                        "process %d ended but its status is lost: it was "
                        "reaped elsewhere (is SIGCHLD ignored?)",
                        (int)p->pid);
    }
    if (status)
        *status = p->status;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

DLP_API int dlp_process_alive(dlp_process *p)
{
    int ended;
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    ended = reap_locked(p);
    pthread_mutex_unlock(&p->mu);
    return !ended;
}

DLP_API int dlp_process_kill(dlp_process *p, int signo)
{
    int rc = 0;
    if (!p || signo <= 0 || signo >= NSIG)
        return DLP_EINVAL;
    pthread_mutex_lock(&p->mu);
    /* Not reaped yet: the pid is still our child's, if only a zombie's. */
    if (!p->ended && !p->lost && kill(p->pid, signo) < 0)
        rc = errno == ESRCH ? 0 : -errno;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

DLP_API void dlp_process_destroy(dlp_process *p)
{
    if (!p)
        return;
    if (p->chan.fd >= 0) {
        /* shutdown, not just close: a process the caller forked may hold
         * a copy of our end, and the child must see end of file now. */
        shutdown(p->chan.fd, SHUT_RDWR);
        close(p->chan.fd);
        p->chan.fd = -1;
    }
    pthread_mutex_lock(&p->mu);
    if (!p->ended && !p->lost)
        dlp__reap(p->pid, DESTROY_GRACE_MS);
    pthread_mutex_unlock(&p->mu);
    dlp__buf_free(&p->chan.out);
    dlp__buf_free(&p->chan.in);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
