/*
 * agent.c - serve a pool's channel the way a worker does, but run every
 * batch on a pool of local workers: the far end of a link to another
 * machine (transport.h).
 *
 * The pool at the other end sees one worker that answers slowly and
 * holds many batches at once.  Here each BATCH frame becomes an internal
 * job of the local pool (its tasks already encoded, as a future's), and
 * its results are sent back in the batch's order, as RESULTS frames of the
 * same form a worker writes.  A task that kills a local worker, or runs
 * past its timeout, fails here, with the local pool's retries: it goes
 * back as a LOST record carrying the failure's kind, signal or exit
 * status, attempts and worker pid, so that the result at the other end
 * reads as it would have on a local pool.
 *
 * One thread: it drives the local pool with the channel as the extra
 * descriptor of the loop, so a new frame and a finished task both wake
 * it.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pool.h"
#include "sig.h"
#include "transport.h"
#include "val.h"

/* A RESULTS frame is closed once it holds this much, as a worker's is:
 * well inside the frame limit, whatever the last result added. */
#define AGENT_FLUSH (256u << 10)

/* One frame received and not yet wholly answered, in arrival order: a
 * batch, or a LOAD whose LOADED reply waits for the batches before it
 * (the far pool matches each reply to the oldest frame it sent). */
typedef struct abatch {
    struct abatch *next;
    dlp_job *job;       /* the local internal job running its tasks; NULL
                           for a LOAD */
    dlp__buf reply;     /* a LOAD's reply, whole */
    uint32_t job_id;    /* the far pool's job id (the frame's a) */
    uint32_t count;     /* tasks in the batch */
    uint32_t answered;  /* results sent back so far */
    uint16_t flags;     /* DLP_BATCH_TIMES is passed back */
    uint64_t start_ns;  /* when it arrived, for the busy time */
    uint64_t *index;    /* the far index of each task, in batch order */
} abatch;

typedef struct agent {
    dlp_pool *pool; /* NULL if it could not be made: loads fail */
    char why[512];  /* then why */
    int fd;
    int *fnmap;     /* far function id -> local id, -1 unknown */
    size_t nfnmap;
    abatch *head, *tail;
    dlp__buf in, out;
    uint64_t last_ns; /* when the last RESULTS frame was begun */
} agent;

static void free_batch(abatch *b)
{
    if (b) {
        dlp_job_destroy(b->job);
        dlp__buf_free(&b->reply);
        free(b->index);
        free(b);
    }
}

static void enqueue(agent *a, abatch *b)
{
    if (a->tail)
        a->tail->next = b;
    else
        a->head = b;
    a->tail = b;
}

/* Map far function id fn to local id local. */
static int map_fn(agent *a, uint32_t fn, int local)
{
    if (fn >= a->nfnmap) {
        size_t n = a->nfnmap ? a->nfnmap : 8;
        while (n <= fn)
            n *= 2;
        int *m = realloc(a->fnmap, n * sizeof *m);
        if (!m)
            return -ENOMEM;
        for (size_t i = a->nfnmap; i < n; i++)
            m[i] = -1;
        a->fnmap = m;
        a->nfnmap = n;
    }
    a->fnmap[fn] = local;
    return 0;
}

/* LOAD a=fn: str plugin, str symbol, str sig.  Resolve it on the local
 * pool and answer LOADED as a worker would. */
static int do_load(agent *a, const dlp__hdr *h, dlp__rd *r)
{
    const char *plugin, *symbol, *sig;
    uint32_t pl, sl, gl;
    dlp_error err = {0, ""};
    char *ref, sigbuf[256];
    abatch *b;
    int id, rc;
    long off;

    if (dlp__get_str(r, &plugin, &pl, 1) || dlp__get_str(r, &symbol, &sl, 1) ||
        dlp__get_str(r, &sig, &gl, 1) || h->a > 1u << 20)
        return DLP_EPROTO;
    if (!a->pool) {
        id = DLP_EWORKER;
        snprintf(err.msg, sizeof err.msg, "%s", a->why);
    } else if (!(ref = malloc((size_t)pl + sl + 2))) {
        return -ENOMEM;
    } else {
        memcpy(ref, plugin, pl);
        ref[pl] = ':';
        memcpy(ref + pl + 1, symbol, (size_t)sl + 1);
        id = dlp_pool_fn(a->pool, ref, gl ? sig : NULL, &err);
        free(ref);
    }
    if ((rc = map_fn(a, h->a, id)) || !(b = calloc(1, sizeof *b)))
        return -ENOMEM;
    off = dlp__frame_begin(&b->reply, DLP_F_LOADED, h->a,
                           (uint32_t)(id < 0 ? id : 0));
    if (id >= 0) {
        dlp_sig_format(dlp_pool_fn_sig(a->pool, id), sigbuf, sizeof sigbuf);
        rc = dlp__put_str(&b->reply, sigbuf, strlen(sigbuf), 0);
    } else {
        rc = dlp__put_str(&b->reply, err.msg, strlen(err.msg), 0);
    }
    if (off < 0 || rc || dlp__frame_end(&b->reply, off)) {
        free_batch(b);
        return -ENOMEM;
    }
    enqueue(a, b);
    return 0;
}

/* BATCH a=job b=fn: u32 count, count x task [, limits: transport.h].
 * Start its tasks as an internal job of the local pool. */
static int do_batch(agent *a, const dlp__hdr *h, dlp__rd *r)
{
    dlp__pre pre;
    dlp_error err;
    uint32_t count;
    uint64_t timeout_ns = 0;
    uint32_t retries = 0;
    abatch *b;
    int rc;

    if (dlp__get_u32(r, &count) || count == 0 ||
        count > (size_t)(r->end - r->p) / DLP_TASK_HDR ||
        h->b >= a->nfnmap || a->fnmap[h->b] < 0)
        return DLP_EPROTO; /* a count the frame cannot hold, before any
                              allocation sized by it */
    memset(&pre, 0, sizeof pre);
    pre.n = count;
    if (!(b = calloc(1, sizeof *b)) ||
        !(b->index = malloc(count * sizeof *b->index)) ||
        !(pre.task = malloc(count * sizeof *pre.task)) ||
        dlp__buf_put(&pre.bytes, r->p, (size_t)(r->end - r->p))) {
        dlp__pre_free(&pre);
        free_batch(b);
        return -ENOMEM;
    }
    /* Offsets into the copy: the records are read from the frame. */
    for (uint32_t i = 0; i < count; i++) {
        uint64_t index;
        const unsigned char *args;
        uint32_t arglen;
        if (dlp__task_next(r, &index, &args, &arglen))
            break;
        b->index[i] = index;
        pre.task[i].off = (size_t)(args - (r->end - pre.bytes.len));
        pre.task[i].len = arglen;
    }
    if ((h->flags & DLP_BATCH_LIMITS) &&
        (dlp__get_u64(r, &timeout_ns) || dlp__get_u32(r, &retries)))
        r->bad = 1;
    if (r->bad || r->p != r->end) {
        dlp__pre_free(&pre);
        free_batch(b);
        return DLP_EPROTO;
    }
    /* The limits trail the records: they are not part of the last
     * task's arguments. */
    pre.bytes.len -= h->flags & DLP_BATCH_LIMITS ? 12 : 0;
    b->job_id = h->a;
    b->count = count;
    b->flags = h->flags & DLP_BATCH_TIMES;
    b->start_ns = dlp__now_ns();
    /* The far pool sized the batch for about a millisecond of work: split
     * it evenly among the local workers (an internal job would otherwise
     * start again from batches of one, as a new job does). */
    unsigned nw = dlp_pool_workers(a->pool);
    unsigned chunk = (unsigned)((count + 2 * nw - 1) / (2 * nw));
    rc = dlp__job_internal(&b->job, a->pool, a->fnmap[h->b], &pre,
                           (double)timeout_ns / 1e9, retries, 0,
                           b->flags ? DLP_JOB_TIMES : 0, chunk ? chunk : 1,
                           NULL, &err);
    if (rc) {
        free_batch(b);
        return rc;
    }
    enqueue(a, b);
    return 0;
}

/* Append result res of a task as a worker's record (with its times when
 * the batch asked), for a function returning ret. */
static int put_result(dlp__buf *o, const dlp_result *res, dlp_type ret,
                      uint64_t index, int timed)
{
    size_t rec = o->len;
    uint8_t kind = DLP_R_OK;
    int rc;

    if ((rc = dlp__put_u64(o, index)) || (rc = dlp__put_u8(o, 0)) ||
        (rc = dlp__put_u32(o, 0)))
        return rc;
    if (res->fail == DLP_FAIL_PLUGIN || res->fail == DLP_FAIL_RESULT) {
        kind = res->fail == DLP_FAIL_PLUGIN ? DLP_R_FAIL : DLP_R_BADRESULT;
        rc = dlp__buf_put(o, res->error, strlen(res->error));
    } else if (res->fail) {
        kind = DLP_R_LOST;
        if (!(rc = dlp__put_u8(o, (uint8_t)res->fail)) &&
            !(rc = dlp__put_u32(o, (uint32_t)res->signo)) &&
            !(rc = dlp__put_u32(o, (uint32_t)res->exit_status)) &&
            !(rc = dlp__put_u32(o, res->attempts)) &&
            !(rc = dlp__put_u32(o, (uint32_t)res->pid)))
            rc = dlp__buf_put(o, res->error, strlen(res->error));
    } else if (ret == DLP_T_STR) {
        rc = dlp__buf_put(o, res->v.s.ptr, res->v.s.len);
    } else if (ret == DLP_T_VAL) {
        rc = dlp__val_put(o, res->v.val);
    } else if (ret != DLP_T_VOID) {
        uint64_t w = res->v.u;
        if (ret == DLP_T_F32 || ret == DLP_T_F64)
            memcpy(&w, &res->v.f, 8);
        else if (ret == DLP_T_BOOL)
            w = res->v.b;
        rc = dlp__put_u64(o, w);
    }
    if (rc)
        return rc;
    uint32_t len = (uint32_t)(o->len - rec - DLP_RESULT_HDR);
    o->p[rec + 8] = kind;
    memcpy(o->p + rec + 9, &len, 4);
    if (timed &&
        ((rc = dlp__put_u64(o, (uint64_t)(res->start * 1e9))) ||
         (rc = dlp__put_u64(o, (uint64_t)(res->run_time * 1e9)))))
        return rc;
    return dlp__put_u32(o, (uint32_t)res->pid); /* DLP_RESULTS_PIDS */
}

/* Encode the results that are ready, in order: the head batch's next
 * ones while they are done.  Batches answered in full go on *done, for
 * the caller to destroy once mu is released.  mu held. */
static int answer(agent *a, abatch **done)
{
    while (a->head) {
        abatch *b = a->head;
        dlp_result res;
        uint32_t n = 0;
        long off = -1;
        int rc;
        if (!b->job) {
            /* A LOAD, answered now that every batch before it is. */
            if (dlp__buf_put(&a->out, b->reply.p, b->reply.len))
                return -ENOMEM;
        }
        while (b->job && b->answered < b->count &&
               dlp__job_view(b->job, b->answered, &res) == 0) {
            if (off < 0) {
                /* The batch's service time: from when it arrived, or from
                 * when the one before it was answered if that was later
                 * (it waited its turn meanwhile), to now.  The far pool
                 * sizes its batches by it. */
                uint64_t now = dlp__now_ns();
                uint64_t from = b->start_ns > a->last_ns ? b->start_ns
                                                         : a->last_ns;
                uint64_t busy = now > from ? now - from : 0;
                a->last_ns = now;
                off = dlp__frame_begin(&a->out, DLP_F_RESULTS, b->job_id, 0);
                if (off < 0 || dlp__put_u64(&a->out, busy))
                    return -ENOMEM;
            }
            if ((rc = put_result(&a->out, &res, res.type,
                                 b->index[b->answered], b->flags != 0)))
                return rc;
            b->answered++;
            n++;
            if (a->out.len - (size_t)off >= AGENT_FLUSH)
                break;
        }
        if (off >= 0) {
            uint16_t flags = (uint16_t)(b->flags | DLP_RESULTS_PIDS);
            memcpy(a->out.p + off + 6, &flags, 2);
            memcpy(a->out.p + off + 12, &n, 4);
            if (dlp__frame_end(&a->out, off))
                return DLP_ETOOBIG;
        }
        if (b->answered < b->count)
            return 0;
        a->head = b->next;
        if (!a->head)
            a->tail = NULL;
        b->next = *done;
        *done = b;
    }
    return 0;
}

/* Handle every whole frame in a->in. */
static int handle_frames(agent *a)
{
    size_t off = 0;
    int rc = 0;
    while (a->in.len - off >= DLP_HDR_SIZE) {
        dlp__hdr h;
        dlp__rd r;
        dlp__hdr_unpack(a->in.p + off, &h);
        if (h.len > DLP_FRAME_MAX)
            return DLP_EPROTO;
        if (a->in.len - off - DLP_HDR_SIZE < h.len)
            break;
        dlp__rd_init(&r, a->in.p + off + DLP_HDR_SIZE, h.len);
        if (h.type == DLP_F_LOAD)
            rc = do_load(a, &h, &r);
        else if (h.type == DLP_F_BATCH && a->pool)
            rc = do_batch(a, &h, &r);
        else
            rc = DLP_EPROTO;
        if (rc)
            return rc;
        off += DLP_HDR_SIZE + h.len;
    }
    if (off) {
        memmove(a->in.p, a->in.p + off, a->in.len - off);
        a->in.len -= off;
    }
    return 0;
}

/* Read what the channel has (without blocking): 1 at its end, 0, or a
 * negative code. */
static int read_in(agent *a)
{
    for (;;) {
        if (dlp__buf_reserve(&a->in, 64 * 1024))
            return -ENOMEM;
        ssize_t r = recv(a->fd, a->in.p + a->in.len, a->in.cap - a->in.len,
                         MSG_DONTWAIT);
        if (r > 0) {
            a->in.len += (size_t)r;
            continue;
        }
        if (r == 0)
            return 1;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
}

/* Write all n bytes to the channel, blocking; a peer that went away is
 * an error here, not a SIGPIPE. */
static int send_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int dlp__agent_main(int fd, const dlp_pool_options *opts)
{
    agent a;
    dlp_error err = {0, ""};
    int rc = 0;

    memset(&a, 0, sizeof a);
    a.fd = fd;
    if (dlp_pool_create(&a.pool, opts, &err)) {
        a.pool = NULL;
        snprintf(a.why, sizeof a.why, "the agent could not start its "
                 "workers: %.400s", err.msg);
    }
    for (;;) {
        abatch *done = NULL;
        int readable = 1;
        if (a.pool) {
            pthread_mutex_lock(&a.pool->mu);
            if (dlp__pool_alive(a.pool) == 0) {
                /* Every local worker is gone for good (past the restart
                 * intensity, or replacements that cannot load): nothing
                 * will run.  Fail what is queued, so that it goes back
                 * as lost rather than wait forever. */
                for (abatch *b = a.head; b; b = b->next)
                    if (b->job)
                        dlp__job_abort(b->job, DLP_FAIL_WORKER,
                                       a.pool->last_loss[0]
                                           ? a.pool->last_loss
                                           : "the agent has no worker left");
            }
            rc = answer(&a, &done);
            if (!rc && !a.out.len)
                readable = dlp__pool_drive_until(a.pool, a.fd, 0);
            pthread_mutex_unlock(&a.pool->mu);
        }
        while (done) {
            abatch *next = done->next;
            free_batch(done);
            done = next;
        }
        if (rc)
            break;
        if (a.out.len) {
            if ((rc = send_all(a.fd, a.out.p, a.out.len)))
                break;
            a.out.len = 0;
            continue;
        }
        if (!readable)
            continue;
        if (!a.pool) {
            /* No pool to drive: wait on the channel alone. */
            struct pollfd pfd = {a.fd, POLLIN, 0};
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
                rc = -errno;
                break;
            }
        }
        if ((rc = read_in(&a)) != 0 || (rc = handle_frames(&a)) != 0)
            break;
    }
    while (a.head) {
        abatch *next = a.head->next;
        free_batch(a.head);
        a.head = next;
    }
    dlp_pool_destroy(a.pool);
    dlp__buf_free(&a.in);
    dlp__buf_free(&a.out);
    free(a.fnmap);
    /* The end of the channel is the normal end; anything else is the
     * far pool's to see as a lost link. */
    return rc == 1 ? 0 : rc == DLP_EPROTO ? DLP_WEXIT_PROTO
                    : rc == -ENOMEM   ? DLP_WEXIT_NOMEM
                                      : DLP_WEXIT_IO;
}
