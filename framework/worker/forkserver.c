/*
 * forkserver.c - a process that forks workers for another (forkserver.h).
 *
 * An MPI rank may not fork once MPI is up, yet an agent there must
 * replace the workers it loses.  So before MPI starts the agent forks a
 * server, and asks it for every later worker: the server forks the
 * worker and passes back its pid and the parent's end of its channel
 * (SCM_RIGHTS); since the workers are the server's children, the server
 * also reaps them when asked.  The server is forked after the agent's
 * pool is made, so it shares the pool's scoreboard (shared memory), whose
 * entries the requests name by address.
 *
 * Requests and replies are one packet each (SOCK_SEQPACKET), one at a
 * time under a lock.  The server leaves when its channel closes (the
 * agent's end, or the agent's death), killing and reaping the workers it
 * still has first.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "forkserver.h"
#include "worker.h"

enum { OP_SPAWN = 1, OP_REAP = 2 };

typedef struct fs_req {
    uint32_t op;
    int32_t grace_ms; /* OP_REAP */
    int64_t pid;      /* OP_REAP */
    uint64_t score;   /* OP_SPAWN: the slot's scoreboard entry, or 0 */
    dlp__wopts wopts; /* OP_SPAWN */
} fs_req;

typedef struct fs_rep {
    int32_t rc;     /* OP_SPAWN: 0, or the error's code */
    int32_t status; /* OP_REAP: dlp__reap's answer */
    int64_t pid;    /* OP_SPAWN: the worker */
    char msg[400];  /* OP_SPAWN: the error */
} fs_rep;

struct dlp__fsrv {
    pthread_mutex_t mu;
    int fd; /* -1 once the server is found gone */
    pid_t pid;
};

/* The server's children not yet reaped. */
typedef struct kids {
    pid_t *pid;
    size_t n, cap;
} kids;

static void kids_add(kids *k, pid_t pid)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 16;
        pid_t *p = realloc(k->pid, cap * sizeof *p);
        if (!p)
            return; /* it still leaves when its channel closes */
        k->pid = p;
        k->cap = cap;
    }
    k->pid[k->n++] = pid;
}

/* Remove pid; 0 if it is not one of ours. */
static int kids_take(kids *k, pid_t pid)
{
    for (size_t i = 0; i < k->n; i++) {
        if (k->pid[i] == pid) {
            k->pid[i] = k->pid[--k->n];
            return 1;
        }
    }
    return 0;
}

static int send_rep(int ctl, const fs_rep *a, int fd)
{
    struct iovec iov = {(void *)a, sizeof *a};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (fd >= 0) {
        struct cmsghdr *c;
        memset(&u, 0, sizeof u);
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof u.buf;
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    while (sendmsg(ctl, &mh, MSG_NOSIGNAL) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

static void fsrv_loop(int ctl)
{
    kids k = {NULL, 0, 0};
    /* Interrupts are for the agent's process, which decides; the server
     * ends with its channel. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* Nothing of the agent's but the channel: a copy of a worker's
     * channel here would keep that worker from ever seeing its end. */
    if (ctl != 3) {
        if (dup2(ctl, 3) < 0)
            _exit(DLP_WEXIT_IO);
        ctl = 3;
    }
    dlp__close_from(4);
    for (;;) {
        fs_req q;
        fs_rep a;
        int fd = -1;
        ssize_t r = recv(ctl, &q, sizeof q, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)sizeof q)
            break; /* the end of the channel, or not a request of ours */
        memset(&a, 0, sizeof a);
        if (q.op == OP_SPAWN) {
            dlp_error err = {0, ""};
            pid_t pid = 0;
            a.rc = dlp__worker_spawn(&pid, &fd,
                                     (dlp__score *)(uintptr_t)q.score,
                                     &q.wopts, &err);
            if (a.rc == 0) {
                a.pid = pid;
                kids_add(&k, pid);
            } else {
                snprintf(a.msg, sizeof a.msg, "%.390s", err.msg);
                dlp__utf8_trim(a.msg); /* never half a character */
            }
        } else if (q.op == OP_REAP) {
            /* Never wait for a process that is not ours. */
            a.status = kids_take(&k, (pid_t)q.pid)
                           ? dlp__reap((pid_t)q.pid, q.grace_ms)
                           : -1;
        } else {
            break;
        }
        int rc = send_rep(ctl, &a, fd);
        if (fd >= 0)
            close(fd); /* the agent has its own now */
        if (rc)
            break;
    }
    for (size_t i = 0; i < k.n; i++)
        kill(k.pid[i], SIGKILL);
    for (size_t i = 0; i < k.n; i++)
        while (waitpid(k.pid[i], NULL, 0) < 0 && errno == EINTR)
            ;
    _exit(0);
}

int dlp__fsrv_start(dlp__fsrv **out, dlp_error *err)
{
    int sv[2], rc;
    dlp__fsrv *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return dlp__err(err, -ENOMEM, "out of memory");
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        rc = -errno;
        free(s);
        return dlp__err(err, rc, "cannot make the fork server's channel: %s",
                        dlp_strerror(rc));
    }
    s->pid = fork();
    if (s->pid < 0) {
        rc = -errno;
        close(sv[0]);
        close(sv[1]);
        free(s);
        return dlp__err(err, rc, "cannot fork the fork server: %s",
                        dlp_strerror(rc));
    }
    if (s->pid == 0) {
        close(sv[0]);
        fsrv_loop(sv[1]);
    }
    close(sv[1]);
    s->fd = sv[0];
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return 0;
}

/* One request and its reply; the reply's descriptor, if any, in *fd.
 * mu held. */
static int call(dlp__fsrv *s, const fs_req *q, fs_rep *a, int *fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {a, sizeof *a};
    struct msghdr mh;
    ssize_t r;

    DLP_ASSERT_HELD(&s->mu);
    *fd = -1;
    if (s->fd < 0)
        return -EPIPE;
    if (dlp__send_full(s->fd, q, sizeof *q))
        goto gone;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof u.buf;
    while ((r = recvmsg(s->fd, &mh, MSG_CMSG_CLOEXEC)) < 0)
        if (errno != EINTR)
            goto gone;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(fd, CMSG_DATA(c), sizeof *fd);
    if (r == (ssize_t)sizeof *a)
        return 0;
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
gone:
    close(s->fd);
    s->fd = -1;
    return -EPIPE;
}

int dlp__fsrv_spawn(dlp__fsrv *s, pid_t *pid, int *fd, dlp__score *score,
                    const dlp__wopts *opts, dlp_error *err)
{
    fs_req q;
    fs_rep a;
    int rc, got;
    memset(&q, 0, sizeof q);
    q.op = OP_SPAWN;
    q.score = (uint64_t)(uintptr_t)score;
    if (opts)
        q.wopts = *opts;
    pthread_mutex_lock(&s->mu);
    rc = call(s, &q, &a, &got);
    pthread_mutex_unlock(&s->mu);
    if (rc)
        return dlp__err(err, DLP_EWORKER,
                        "cannot fork a worker: the fork server is gone");
    if (a.rc) {
        a.msg[sizeof a.msg - 1] = '\0';
        return dlp__err(err, a.rc, "%s (in the fork server)", a.msg);
    }
    if (got < 0)
        return dlp__err(err, DLP_EWORKER,
                        "the fork server sent no channel for worker %lld",
                        (long long)a.pid);
    *pid = (pid_t)a.pid;
    *fd = dlp__fd_above_stdio(got);
    return 0;
}

int dlp__fsrv_reap(dlp__fsrv *s, pid_t pid, int grace_ms)
{
    fs_req q;
    fs_rep a;
    int fd, rc;
    memset(&q, 0, sizeof q);
    q.op = OP_REAP;
    q.pid = pid;
    q.grace_ms = grace_ms;
    pthread_mutex_lock(&s->mu);
    rc = call(s, &q, &a, &fd);
    pthread_mutex_unlock(&s->mu);
    if (fd >= 0)
        close(fd);
    /* A server that is gone took its children with it, or left them to
     * init: their status is not ours to know. */
    return rc ? -1 : a.status;
}

void dlp__fsrv_stop(dlp__fsrv *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_destroy(&s->mu);
    free(s);
}
