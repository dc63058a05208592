/*
 * agent.c - serve a pool's channel the way a worker does, but run every
 * batch on a pool of local workers: the far end of a link to another
 * machine (transport.h).
 *
 * The pool at the other end sees one worker that answers slowly and
 * holds many batches at once.  Each BATCH frame is relayed as it came
 * (its limits taken off, its job id made local) to whichever local worker
 * has room, and the worker's RESULTS frames go back as they came, with
 * the worker's pid added: the agent decodes no argument and encodes no
 * result.  The local pool's loop checks every record against its batch
 * and enforces the batch's timeout, as for its own jobs.
 *
 * When a worker is lost with a relayed batch unanswered, the agent takes
 * over the rest of that batch: the task the worker was running fails
 * (a LOST record carrying the failure's kind, signal or exit status,
 * attempts and pid, so that the result at the other end reads as it would
 * have on a local pool), or with retries left runs again; the others run
 * again, as an internal job of the local pool whose results the agent
 * encodes.  Replies go back in the order the frames came.
 *
 * One thread: it drives the local pool with the channel as the extra
 * descriptor of the loop, so a new frame and a finished task both wake
 * it.  On a channel with no descriptor (an MPI rank's, transport.h) it
 * looks at the channel between polls of a few microseconds to a
 * millisecond; a finished task still wakes it at once.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "batch.h"
#include "ijob.h"
#include "mpi_module.h"
#include "loop.h"
#include "pool.h"
#include "supervise.h"
#include "sig.h"
#include "transport.h"
#include "val.h"

/* A RESULTS frame is closed once it holds this much, as a worker's is:
 * well inside the frame limit, whatever the last result added. */
#define AGENT_FLUSH (256u << 10)
/* Relayed batches a local worker holds at once (as a job's). */
#define RELAY_DEPTH 2u
/* Local job ids of relayed batches: apart from the internal jobs'. */
#define RELAY_ID_BASE 0x80000000u

/* One frame received and not yet wholly answered, in arrival order: a
 * batch, or a LOAD whose LOADED reply waits for the batches before it
 * (the far pool matches each reply to the oldest frame it sent). */
typedef struct dlp__relayed {
    struct dlp__relayed *next;
    struct dlp__relayed *dnext; /* in the queue for a worker */
    struct agent *a;
    int load;           /* a LOAD: reply is its answer, whole */
    dlp__buf reply;     /* bytes to send back, in order */
    uint32_t job_id;    /* the far pool's job id (the frame's a) */
    uint32_t count;     /* tasks in the batch */
    uint32_t answered;  /* results in reply or sent back so far */
    uint16_t flags;     /* DLP_BATCH_TIMES is passed back */
    int fn;             /* the local function id */
    uint64_t timeout_ns;
    uint32_t retries;
    dlp__batch *pending; /* the relayed frame, until a worker takes it */
    /* After its worker was lost: the tasks still unanswered then, at
     * positions 0..rest-1, run by job (started when the loop is left);
     * the one at lost_pos (rest: none) failed for good, as lost. */
    uint32_t rest, taken;
    uint64_t *index;    /* each position's far index */
    uint32_t lost_pos;
    dlp__buf lost;      /* its record, as encode_result writes one */
    dlp__pre pre;       /* job's tasks, until it starts */
    int to_start;
    dlp_job *job;
    uint64_t start_ns;  /* when the rest began, for the busy time */
} abatch;

typedef struct agent {
    dlp_pool *pool; /* NULL if it could not be made: loads fail */
    char why[512];  /* then why */
    int fd;
    int *fnmap;     /* far function id -> local id, -1 unknown */
    size_t nfnmap;
    abatch *head, *tail;   /* answer order */
    abatch *spare;         /* answered, kept for reuse */
    unsigned nspare;
    abatch *dhead, *dtail; /* waiting for a worker */
    uint32_t next_id;      /* local job ids of relayed batches */
    int failed;            /* out of memory in the loop's hooks */
    int closing;           /* the pool is going: losses are no news */
    int starting;          /* batches taken over wait for their jobs */
    dlp__buf in, out;
    uint64_t last_ns; /* when the last RESULTS frame was begun */
    /* On a channel (fd -1): the bytes of the send in flight, and how long
     * the next wait for the far side is (0: do not wait). */
    const dlp__chan *ch;
    dlp__buf sending;
    long nap;
} agent;

/* Spare batches an agent keeps, with the memory of their replies. */
#define SPARE_ABATCHES 16u
#define SPARE_REPLY_MAX ((size_t)1 << 20)

static abatch *new_abatch(agent *a)
{
    abatch *b = a->spare;
    if (!b)
        return calloc(1, sizeof *b);
    a->spare = b->next;
    a->nspare--;
    dlp__buf reply = b->reply;
    memset(b, 0, sizeof *b);
    b->reply = reply;
    b->reply.len = 0;
    return b;
}

/* Free what b holds but its reply.  mu NOT held. */
static void release(abatch *b)
{
    dlp_job_destroy(b->job);
    dlp__batch_free(b->pending);
    dlp__buf_free(&b->lost);
    dlp__pre_free(&b->pre);
    free(b->index);
}

static void free_batch(abatch *b)
{
    if (b) {
        release(b);
        dlp__buf_free(&b->reply);
        free(b);
    }
}

/* Keep answered batch b as a spare, or free it.  mu NOT held. */
static void retire_batch(agent *a, abatch *b)
{
    if (a->nspare >= SPARE_ABATCHES || b->reply.cap > SPARE_REPLY_MAX) {
        free_batch(b);
        return;
    }
    release(b);
    b->job = NULL;
    b->pending = NULL;
    b->index = NULL;
    b->next = a->spare;
    a->spare = b;
    a->nspare++;
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
static int relay_load(agent *a, const dlp__hdr *h, dlp__rd *r)
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
    b->load = 1;
    enqueue(a, b);
    return 0;
}

/* Append a LOST record for task index (kind, wait status, attempts,
 * pid, message), followed by its times when timed, the pid and the
 * attempts: a record of a DLP_RESULTS_PIDS frame. */
static int put_lost(dlp__buf *o, uint64_t index, dlp_fail_kind kind,
                    int signo, int exit_status, unsigned attempts, pid_t pid,
                    const char *msg, int timed, uint64_t start, uint64_t run)
{
    size_t n = strlen(msg);
    int rc;
    if ((rc = dlp__put_u64(o, index)) || (rc = dlp__put_u8(o, DLP_R_LOST)) ||
        (rc = dlp__put_u32(o, (uint32_t)(17 + n))) ||
        (rc = dlp__put_u8(o, (uint8_t)kind)) ||
        (rc = dlp__put_u32(o, (uint32_t)signo)) ||
        (rc = dlp__put_u32(o, (uint32_t)exit_status)) ||
        (rc = dlp__put_u32(o, attempts)) ||
        (rc = dlp__put_u32(o, (uint32_t)pid)) ||
        (rc = dlp__buf_put(o, msg, n)))
        return rc;
    if (timed && ((rc = dlp__put_u64(o, start)) || (rc = dlp__put_u64(o, run))))
        return rc;
    if ((rc = dlp__put_u32(o, (uint32_t)pid)))
        return rc;
    return dlp__put_u32(o, attempts);
}

/* Take over the n unanswered task records at recs (len bytes) of batch
 * b: with loss, the task it names fails for good if it is among them and
 * has no retry left, or runs again with one attempt counted.  The rest is
 * started as a job once the loop is left.  Returns 1 if the lost task
 * was among them, or a negative code. */
static int take_rest(abatch *b, const unsigned char *recs, size_t len,
                     uint32_t n, const dlp__batch_loss *loss)
{
    dlp__rd r;
    int hit = 0;
    uint32_t k = 0;

    b->rest = n;
    b->taken = 0;
    b->lost_pos = n;
    b->start_ns = dlp__now_ns();
    memset(&b->pre, 0, sizeof b->pre);
    if (!(b->index = malloc((n ? n : 1) * sizeof *b->index)) ||
        !(b->pre.task = malloc((n ? n : 1) * sizeof *b->pre.task)) ||
        dlp__buf_put(&b->pre.bytes, recs, len))
        return -ENOMEM;
    dlp__rd_init(&r, recs, len);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t index;
        const unsigned char *args;
        uint32_t arglen;
        if (dlp__task_next(&r, &index, &args, &arglen))
            return DLP_EPROTO; /* cannot happen: the loop checked them */
        b->index[i] = index;
        if (loss && loss->running && index == loss->index && !hit) {
            hit = 1;
            if (b->retries == 0) {
                /* Failed for good: its record, as the local pool words it. */
                uint64_t now = dlp__now_ns(), run = 0, start = 0;
                if (loss->start_mono) {
                    run = now > loss->start_mono ? now - loss->start_mono : 0;
                    start = dlp__realtime_ns() - run;
                }
                b->lost_pos = i;
                int rc = put_lost(
                    &b->lost, index, loss->kind,
                    loss->kind == DLP_FAIL_SIGNAL ? WTERMSIG(loss->status) : 0,
                    loss->kind == DLP_FAIL_EXIT ? WEXITSTATUS(loss->status) : 0,
                    1, loss->pid, loss->reason, b->flags != 0, start, run);
                if (rc)
                    return rc;
                continue;
            }
            b->pre.task[k].attempts = 1;
        } else {
            b->pre.task[k].attempts = 0;
        }
        b->pre.task[k].off = (size_t)(args - recs);
        b->pre.task[k].len = arglen;
        k++;
    }
    b->pre.n = k;
    b->to_start = 1;
    b->a->starting = 1;
    return hit;
}

/* A relayed batch as the local loop sees its owner (batch.h), mu held.
 * A RESULTS frame for it, its records checked against its tasks: passed
 * back as it came, with the pid of the worker that sent it. */
static void relay_results(dlp__batch *pb, const dlp__hdr *h,
                          const unsigned char *payload, uint64_t busy_ns,
                          pid_t pid)
{
    DLP_ASSERT_HELD(&((abatch *)pb->owner)->a->pool->mu);
    abatch *b = pb->owner;
    (void)busy_ns;
    /* The oldest frame unanswered replies straight into the output;
     * a later one keeps its reply until those before it are answered. */
    dlp__buf *o = b->a->head == b && !b->reply.len ? &b->a->out : &b->reply;
    long off = dlp__frame_begin(o, DLP_F_RESULTS, b->job_id, h->b);
    if (off < 0 || dlp__buf_put(o, payload, DLP_RESULTS_BUSY_SIZE) ||
        dlp__put_u32(o, (uint32_t)pid) ||
        dlp__buf_put(o, payload + DLP_RESULTS_BUSY_SIZE,
                     h->len - DLP_RESULTS_BUSY_SIZE) ||
        dlp__frame_end(o, off)) {
        b->a->failed = -ENOMEM;
        return;
    }
    uint16_t flags = (uint16_t)((h->flags & DLP_BATCH_TIMES) |
                                DLP_RESULTS_PID);
    dlp__hdr_set_flags(o->p + off, flags);
    b->answered += h->b;
}

/* Its worker is gone with tasks of it unanswered (from pb->scan on): the
 * agent takes them over.  Returns 1 if the task the loss names was among
 * them (then it took the blame). */
static int relay_lost(dlp__batch *pb, dlp__worker *w,
                      const dlp__batch_loss *loss)
{
    DLP_ASSERT_HELD(&((abatch *)pb->owner)->a->pool->mu);
    abatch *b = pb->owner;
    int rc = 0;
    (void)w;
    if (!b->a->closing) {
        rc = take_rest(b, pb->frame.p + pb->scan, pb->frame.len - pb->scan,
                       pb->count - pb->done, loss);
        if (rc < 0) {
            b->a->failed = rc;
            rc = 0;
        }
    }
    dlp__batch_free(pb);
    return rc;
}

static const dlp__batch_ops relay_ops = {.result = dlp__batch_no_result,
                                         .results = relay_results,
                                         .lost = relay_lost};

/* BATCH a=job b=fn: u32 count, count x task [, limits: transport.h].
 * Queue it for a local worker, as it came but for its job id, made local,
 * and its limits, which the local pool enforces from the batch. */
static int relay_batch(agent *a, const dlp__hdr *h, dlp__rd *r)
{
    const unsigned char *recs;
    uint32_t count;
    uint64_t timeout_ns = 0;
    uint32_t retries = 0;
    abatch *b;
    dlp__batch *pb;

    if (dlp__get_u32(r, &count) || count == 0 ||
        count > (size_t)(r->end - r->p) / DLP_TASK_HDR ||
        h->b >= a->nfnmap || a->fnmap[h->b] < 0)
        return DLP_EPROTO; /* a count the frame cannot hold */
    recs = r->p;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t index;
        const unsigned char *args;
        uint32_t arglen;
        if (dlp__task_next(r, &index, &args, &arglen))
            break;
    }
    size_t len = (size_t)(r->p - recs);
    if ((h->flags & DLP_BATCH_LIMITS) &&
        (dlp__get_u64(r, &timeout_ns) || dlp__get_u32(r, &retries)))
        r->bad = 1;
    if (r->bad || r->p != r->end)
        return DLP_EPROTO;
    pthread_mutex_lock(&a->pool->mu);
    pb = dlp__batch_take(a->pool);
    pthread_mutex_unlock(&a->pool->mu);
    if (!pb || !(b = new_abatch(a))) {
        dlp__batch_free(pb);
        return -ENOMEM;
    }
    b->pending = pb;
    b->a = a;
    b->job_id = h->a;
    b->count = count;
    b->flags = h->flags & DLP_BATCH_TIMES;
    b->fn = a->fnmap[h->b];
    b->timeout_ns = timeout_ns;
    b->retries = retries;
    pb->type = DLP_F_BATCH;
    pb->job_id = RELAY_ID_BASE | (a->next_id++ & ~RELAY_ID_BASE);
    pb->fn = (uint32_t)b->fn;
    pb->count = count;
    pb->scan = DLP_BATCH_OFF_TASKS;
    pb->ops = &relay_ops;
    pb->owner = b;
    pb->timeout_ns = timeout_ns;
    long off = dlp__frame_begin(&pb->frame, DLP_F_BATCH, pb->job_id, pb->fn);
    if (off < 0 || dlp__put_u32(&pb->frame, count) ||
        dlp__buf_put(&pb->frame, recs, len) ||
        dlp__frame_end(&pb->frame, off)) {
        free_batch(b);
        return -ENOMEM;
    }
    uint16_t flags = (uint16_t)(b->flags | (timeout_ns ? DLP_BATCH_TIMED : 0));
    dlp__hdr_set_flags(pb->frame.p + off, flags);
    enqueue(a, b);
    if (a->dtail)
        a->dtail->dnext = b;
    else
        a->dhead = b;
    a->dtail = b;
    return 0;
}

/* Give the queued batches to the local workers with room.  With none
 * alive, take them over (their job fails them).  mu held. */
static int dispatch(agent *a)
{
    DLP_ASSERT_HELD(&a->pool->mu);
    int alive = dlp__loop_alive(a->pool) > 0;
    while (a->dhead) {
        abatch *b = a->dhead;
        dlp__worker *w = NULL;
        if (alive && !(w = dlp__loop_pick(a->pool, RELAY_DEPTH)))
            return 0;
        a->dhead = b->dnext;
        if (!a->dhead)
            a->dtail = NULL;
        b->dnext = NULL;
        dlp__batch *pb = b->pending;
        b->pending = NULL;
        if (w) {
            dlp__loop_send(a->pool, w, pb);
            continue;
        }
        int rc = take_rest(b, pb->frame.p + pb->scan,
                           pb->frame.len - pb->scan, pb->count, NULL);
        dlp__batch_free(pb);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Start the jobs of the batches taken over.  mu NOT held. */
static int start_rests(agent *a)
{
    for (abatch *b = a->head; b; b = b->next) {
        dlp_error err;
        if (!b->to_start)
            continue;
        b->to_start = 0;
        if (b->pre.n == 0)
            continue; /* only the lost task was left */
        unsigned nw = dlp_pool_workers(a->pool);
        unsigned chunk = (unsigned)((b->pre.n + 2 * nw - 1) / (2 * nw));
        int rc = dlp__ijob_start(&b->job, a->pool, b->fn, &b->pre,
                                   (double)b->timeout_ns / 1e9, b->retries, 0,
                                   b->flags ? DLP_JOB_TIMES : 0,
                                   chunk ? chunk : 1, NULL, NULL, &err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Append result res of a task as a worker's record (with its times when
 * the batch asked) and the pid that ran it, for a function returning
 * ret. */
static int encode_result(dlp__buf *o, const dlp_result *res, dlp_type ret,
                      uint64_t index, int timed)
{
    size_t rec = o->len;
    uint8_t kind = DLP_R_OK;
    int rc;

    if (res->fail && res->fail != DLP_FAIL_PLUGIN &&
        res->fail != DLP_FAIL_RESULT)
        return put_lost(o, index, res->fail, res->signo, res->exit_status,
                        res->attempts, res->pid, res->error, timed,
                        (uint64_t)(res->start * 1e9),
                        (uint64_t)(res->run_time * 1e9));
    if ((rc = dlp__put_u64(o, index)) || (rc = dlp__put_u8(o, 0)) ||
        (rc = dlp__put_u32(o, 0)))
        return rc;
    if (res->fail) {
        kind = res->fail == DLP_FAIL_PLUGIN ? DLP_R_FAIL : DLP_R_BADRESULT;
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
    dlp__result_rec_set(o->p + rec, kind, len);
    if (timed &&
        ((rc = dlp__put_u64(o, (uint64_t)(res->start * 1e9))) ||
         (rc = dlp__put_u64(o, (uint64_t)(res->run_time * 1e9)))))
        return rc;
    if ((rc = dlp__put_u32(o, (uint32_t)res->pid))) /* DLP_RESULTS_PIDS */
        return rc;
    return dlp__put_u32(o, res->attempts);
}

/* Encode what is ready of the rest of batch b (taken over after a loss),
 * in order, into a->out.  mu held. */
static int answer_rest(agent *a, abatch *b)
{
    DLP_ASSERT_HELD(&a->pool->mu);
    long off = -1;
    uint32_t n = 0;
    int rc;
    while (b->taken < b->rest) {
        dlp_result res;
        int lost = b->taken == b->lost_pos;
        uint32_t jpos = b->taken - (b->taken > b->lost_pos);
        if (!lost && (!b->job || dlp__ijob_view(b->job, jpos, &res) != 0))
            break;
        if (off < 0) {
            /* The service time: from when the rest began, or from when
             * the frame before was begun if that was later, to now.  The
             * far pool sizes its batches by it. */
            uint64_t now = dlp__now_ns();
            uint64_t from = b->start_ns > a->last_ns ? b->start_ns
                                                     : a->last_ns;
            a->last_ns = now;
            off = dlp__frame_begin(&a->out, DLP_F_RESULTS, b->job_id, 0);
            if (off < 0 || dlp__put_u64(&a->out, now > from ? now - from : 0))
                return -ENOMEM;
        }
        if (lost)
            rc = dlp__buf_put(&a->out, b->lost.p, b->lost.len);
        else
            rc = encode_result(&a->out, &res, res.type, b->index[b->taken],
                            b->flags != 0);
        if (rc)
            return rc;
        b->taken++;
        b->answered++;
        n++;
        if (a->out.len - (size_t)off >= AGENT_FLUSH)
            break;
    }
    if (off >= 0) {
        uint16_t flags = (uint16_t)(b->flags | DLP_RESULTS_PIDS);
        dlp__hdr_set_flags(a->out.p + off, flags);
        dlp__hdr_set_b(a->out.p + off, n);
        if (dlp__frame_end(&a->out, off))
            return DLP_ETOOBIG;
    }
    return 0;
}

/* Move what is ready to a->out, in order: the head batch's replies while
 * it is answered.  Batches answered in full go on *done, for the caller to
 * destroy once mu is released.  mu held, if the agent has a pool. */
static int answer(agent *a, abatch **done)
{
    if (a->pool)
        DLP_ASSERT_HELD(&a->pool->mu);
    while (a->head) {
        abatch *b = a->head;
        int rc;
        if (b->reply.len) {
            if (dlp__buf_put(&a->out, b->reply.p, b->reply.len))
                return -ENOMEM;
            b->reply.len = 0;
        }
        if (b->rest && (rc = answer_rest(a, b)))
            return rc;
        if (!b->load && b->answered < b->count)
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
            rc = relay_load(a, &h, &r);
        else if (h.type == DLP_F_BATCH && a->pool)
            rc = relay_batch(a, &h, &r);
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

int dlp__agent_main(int fd, const dlp_pool_options *opts)
{
    dlp_pool *pool = NULL;
    dlp_error err = {0, ""};
    /* An agent's own workers are local, whatever opts->transport says. */
    if (dlp__pool_create_local(&pool, opts, &err))
        pool = NULL;
    return dlp__agent_serve(fd, pool, err.msg);
}

/* An agent on a channel has no descriptor to sleep on for the far side:
 * it naps as a bridge does (mpi_module.h); its workers' replies wake it
 * at once. */
/* Messages are taken from the channel until this much waits in a->in. */
#define CHAN_READ_MAX (1u << 20)

/* One turn of the channel: start sending a->out if no send is in flight,
 * take what arrived and handle it, and set the next wait.  Returns 1 once
 * the far side has closed, 0, or a negative code. */
static int chan_turn(agent *a)
{
    const dlp__chan *ch = a->ch;
    int moved = 0, r = 0, busy;
    size_t n;

    if (a->out.len && !ch->busy(ch->ctx)) {
        dlp__buf t = a->sending;
        a->sending = a->out;
        a->out = t;
        a->out.len = 0;
        if (ch->send(ch->ctx, a->sending.p, a->sending.len))
            return -EIO;
        moved = 1;
    }
    while (a->in.len < CHAN_READ_MAX && (r = ch->peek(ch->ctx, &n)) == 1) {
        if (dlp__buf_reserve(&a->in, n))
            return -ENOMEM;
        ch->take(ch->ctx, a->in.p + a->in.len);
        a->in.len += n;
        moved = 1;
    }
    if (r == 2)
        return 1;
    if (moved && (r = handle_frames(a)) != 0)
        return r;
    busy = ch->busy(ch->ctx);
    if (moved) {
        a->nap = 0;
    } else {
        long max = busy ? DLP_MPI_NAP_SENDING : DLP_MPI_NAP_MAX;
        a->nap = a->nap ? 2 * a->nap : DLP_MPI_NAP_MIN;
        if (a->nap > max)
            a->nap = max;
    }
    if (!a->pool && a->nap) {
        struct timespec ts = {0, a->nap};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int agent_loop(int fd, const dlp__chan *ch, dlp_pool *pool,
                      const char *why)
{
    agent a;
    int rc = 0;

    memset(&a, 0, sizeof a);
    a.fd = fd;
    a.ch = ch;
    a.pool = pool;
    if (!pool)
        snprintf(a.why, sizeof a.why, "the agent could not start its "
                 "workers: %.400s", why);
    for (;;) {
        abatch *done = NULL;
        int readable = 1;
        if (a.pool) {
            pthread_mutex_lock(&a.pool->mu);
            rc = dispatch(&a);
            if (dlp__loop_alive(a.pool) == 0) {
                /* Every local worker is gone for good (past the restart
                 * intensity, or replacements that cannot load): nothing
                 * will run.  Fail what is queued, so that it goes back
                 * as lost rather than wait forever. */
                for (abatch *b = a.head; b; b = b->next)
                    if (b->job)
                        dlp__ijob_abort(b->job, DLP_FAIL_WORKER,
                                       a.pool->last_loss[0]
                                           ? a.pool->last_loss
                                           : "the agent has no worker left");
            }
            if (!rc)
                rc = answer(&a, &done);
            if (rc || a.starting) {
                /* Not now: first the error, or the jobs to start. */
            } else if (!ch) {
                if (!a.out.len)
                    readable = dlp__loop_drive_until(a.pool, a.fd, 0);
            } else if (!a.out.len || ch->busy(ch->ctx)) {
                dlp__loop_drive_until(a.pool, -1,
                                      a.nap ? dlp__now_ns() + (uint64_t)a.nap
                                            : 1);
            }
            if (!rc)
                rc = a.failed;
            pthread_mutex_unlock(&a.pool->mu);
            if (!rc && a.starting) {
                a.starting = 0;
                rc = start_rests(&a);
            }
        } else {
            rc = answer(&a, &done); /* the loads, failed */
        }
        while (done) {
            abatch *next = done->next;
            retire_batch(&a, done);
            done = next;
        }
        if (rc)
            break;
        if (ch) {
            if ((rc = chan_turn(&a)) != 0)
                break;
            continue;
        }
        if (a.out.len) {
            if ((rc = dlp__send_full(a.fd, a.out.p, a.out.len)))
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
    /* The jobs go before their pool, the batches after it: its workers'
     * last losses may still name them. */
    for (abatch *b = a.head; b; b = b->next) {
        dlp_job_destroy(b->job);
        b->job = NULL;
    }
    a.closing = 1;
    dlp_pool_destroy(a.pool);
    while (a.head) {
        abatch *next = a.head->next;
        free_batch(a.head);
        a.head = next;
    }
    while (a.spare) {
        abatch *next = a.spare->next;
        free_batch(a.spare);
        a.spare = next;
    }
    if (ch) {
        /* The bytes in flight are MPI's until their send is done. */
        while (ch->busy(ch->ctx)) {
            struct timespec ts = {0, DLP_MPI_NAP_SENDING};
            nanosleep(&ts, NULL);
        }
    }
    dlp__buf_free(&a.in);
    dlp__buf_free(&a.out);
    dlp__buf_free(&a.sending);
    free(a.fnmap);
    /* The end of the channel is the normal end; anything else is the
     * far pool's to see as a lost link. */
    return rc == 1 ? 0 : rc == DLP_EPROTO ? DLP_WEXIT_PROTO
                    : rc == -ENOMEM   ? DLP_WEXIT_NOMEM
                                      : DLP_WEXIT_IO;
}

int dlp__agent_serve(int fd, dlp_pool *pool, const char *why)
{
    return agent_loop(fd, NULL, pool, why);
}

int dlp__agent_serve_chan(const dlp__chan *ch, dlp_pool *pool,
                          const char *why)
{
    return agent_loop(-1, ch, pool, why);
}
