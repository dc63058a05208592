/*
 * loop.c - the event loop: poll the workers' channels, write the frames
 * queued on them, read the replies and hand each to the owner of the
 * batch it answers (batch.h), and kill a worker whose task is past its
 * timeout.  A worker whose channel ends goes to the supervisor through
 * the pool's lost hook (supervise.c).
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sys/uio.h>

#include "batch.h"
#include "loop.h"
#include "pool.h"
#include "transport.h"
#include "worker.h"

unsigned dlp__loop_alive(dlp_pool *p)
{
    unsigned n = 0;
    for (unsigned i = 0; i < p->nworkers; i++)
        n += p->w[i].fd >= 0;
    return n;
}

dlp__worker *dlp__loop_pick(dlp_pool *p, unsigned limit)
{
    DLP_ASSERT_HELD(&p->mu);
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
                p->lost(p, w, NULL);
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

void dlp__loop_send(dlp_pool *p, dlp__worker *w, dlp__batch *b)
{
    DLP_ASSERT_HELD(&p->mu);
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
        dlp__loop_wake(p);
    }
}

/* Stop worker w now: SIGKILL a forked worker; shut a link down (its
 * agent sees the end of the channel and stops its own workers). */
void dlp__loop_kill(dlp__worker *w)
{
    if (w->link)
        shutdown(w->fd, SHUT_RDWR);
    else
        kill(w->pid, SIGKILL);
}

/* Kill the workers whose running task is past its job's timeout, and
 * return how long poll may sleep before the next deadline (-1: none). */
static int check_timeouts(dlp_pool *p)
{
    DLP_ASSERT_HELD(&p->mu);
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
            dlp__loop_kill(w); /* its end-of-file does the rest */
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
    DLP_ASSERT_HELD(&p->mu);
    dlp__batch *b = w->head;
    dlp__rd r;
    dlp__rd_init(&r, payload, h->len);

    if (!b)
        return DLP_EPROTO; /* a reply nobody asked for */
    if (h->type == DLP_F_LOADED) {
        const char *msg;
        uint32_t len;
        if (b->type != DLP_F_LOAD || h->a != b->fn ||
            !dlp__code_ok((int)h->b) || dlp__get_str(&r, &msg, &len, 0))
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
            if (h->flags & DLP_BATCH_TIMES) {
                uint64_t start, run;
                if (dlp__get_u64(&r, &start) || dlp__get_u64(&r, &run))
                    return DLP_EPROTO;
                if (ops->times)
                    ops->times(b, rec.index, start, run);
            }
            uint32_t rpid = pid, attempts = 0;
            if ((h->flags & DLP_RESULTS_PIDS) &&
                (dlp__get_u32(&r, &rpid) || dlp__get_u32(&r, &attempts)))
                return DLP_EPROTO;
            if (attempts > 1 && ops->attempts)
                ops->attempts(b, rec.index, attempts);
            int rc = ops->result(b, rec.index, rec.kind, rec.data, rec.len,
                                 (pid_t)rpid);
            if (DLP_UNLIKELY(rc)) {
                if (rc == DLP_RETIRE)
                    w->retired = 1;
                return DLP_EPROTO;
            }
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
            p->lost(p, w, "out of memory reading its results");
            return;
        }
        r = read(w->fd, w->in.p + w->in.len, w->in.cap - w->in.len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            p->lost(p, w, NULL);
            return;
        }
        if (r == 0) {
            p->lost(p, w, NULL);
            return;
        }
        w->in.len += (size_t)r;
        while (w->in.len - off >= DLP_HDR_SIZE) {
            dlp__hdr h;
            dlp__hdr_unpack(w->in.p + off, &h);
            if (h.len > DLP_FRAME_MAX) {
                dlp__loop_kill(w);
                p->lost(p, w, "sent a frame over the size limit");
                return;
            }
            if (w->in.len - off - DLP_HDR_SIZE < h.len) {
                /* Make room for the whole frame at once. */
                if (off == 0 &&
                    dlp__buf_reserve(&w->in, DLP_HDR_SIZE + h.len -
                                                 w->in.len)) {
                    p->lost(p, w, "out of memory reading a result");
                    return;
                }
                break;
            }
            if (handle_frame(p, w, &h, w->in.p + off + DLP_HDR_SIZE)) {
                dlp__loop_kill(w);
                p->lost(p, w, w->retired ? "retired"
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

int dlp__loop_drive(dlp_pool *p, int extra_fd, int nowait)
{
    return dlp__loop_drive_until(p, extra_fd, nowait ? 1 : 0);
}

unsigned dlp__loop_live_slots(dlp_pool *p, unsigned *slots)
{
    unsigned n = 0;
    for (unsigned i = 0; i < p->nworkers; i++)
        if (p->w[i].fd >= 0)
            slots[n++] = i;
    return n;
}

uint64_t dlp__loop_deadline(double timeout)
{
    uint64_t d;
    /* Negative is none; so is anything past 10^9 s (31 years), whose
     * nanoseconds would not fit.  Callers refuse NaN. */
    if (!(timeout >= 0) || timeout > 1e9)
        return 0;
    d = dlp__now_ns() + (uint64_t)(timeout * 1e9);
    return d < 2 ? 2 : d; /* 0 and 1 mean "none" and "now" */
}

void dlp__loop_wake(dlp_pool *p)
{
    uint64_t one = 1;
    ssize_t rc = write(p->wakefd, &one, sizeof one);
    (void)rc;
}

/* deadline_ns: 0 none, 1 do not wait, else a dlp__now_ns time. */
int dlp__loop_drive_until(dlp_pool *p, int extra_fd, uint64_t deadline_ns)
{
    DLP_ASSERT_HELD(&p->mu);
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
    if (!dlp__list_empty(&p->feedq))
        p->jobs->pump(p); /* internal jobs with tasks left to send */
    p->driving = 0;
    pthread_cond_broadcast(&p->cv);
    return extra_ready;
}

