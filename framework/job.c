/*
 * job.c - jobs: the feeder that pulls tasks from the caller's iterator and
 * packs them into batches, the reorder window that hands results out in
 * order, and automatic batch sizing.
 *
 * The window is a ring of W slots; task i lives in slot i mod W from the
 * moment it is pulled until its result is handed out.  A task is pulled
 * only when its slot is free, so at most W tasks are in flight and memory
 * is bounded by W, never by the size of the input.  A slow first task
 * therefore pauses the feeder instead of growing a buffer.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "args.h"
#include "batch.h"
#include "handle.h"
#include "job.h"
#include "loop.h"
#include "pool.h"
#include "supervise.h"
#include "sig.h"
#include "val.h"

/* ---- results, from the event loop (mu held) ------------------------ */

/* Free what a slot holds: a val tree for a successful val result, bytes
 * otherwise. */
static void slot_clear(dlp_job *j, rslot *s)
{
    if (j->sig.ret == DLP_T_VAL && !s->fail && s->state == SLOT_DONE)
        dlp_val_free((dlp_val *)(void *)s->data);
    else
        free(s->data);
    s->data = NULL;
}

static void slot_done(dlp_job *j, rslot *s)
{
    s->state = SLOT_DONE;
    if (j->internal) {
        if (++j->ndone == j->pre.n && j->done)
            j->done(j->done_ud);
        return;
    }
    if (j->flags & DLP_JOB_UNORDERED) {
        j->doneq[(j->dq_head + j->dq_len) & j->mask] = s->index;
        j->dq_len++;
    }
}

static void slot_fail(rslot *s, dlp_fail_kind kind, const char *msg,
                      size_t len)
{
    s->fail = (uint8_t)kind;
    s->data = malloc(len + 1);
    if (s->data) {
        memcpy(s->data, msg, len);
        s->data[len] = 0;
        s->len = (uint32_t)len;
    }
}

/* Free buf, a result's data, or keep it as a spare if it is large. */
static void recycle(dlp_job *j, char *buf)
{
    size_t n = buf && j->sig.ret == DLP_T_STR ? malloc_usable_size(buf) : 0;
    if (n >= DLP_SPARE_MIN && n <= DLP_SPARE_BYTES - j->spare_bytes) {
        for (unsigned k = 0; k < DLP_SPARES; k++) {
            if (!j->spare[k]) {
                j->spare[k] = buf;
                j->spare_bytes += n;
                return;
            }
        }
    }
    free(buf);
}

/* A buffer of n bytes for a str result: a spare one if n is large. */
static char *result_buffer(dlp_job *j, size_t n)
{
    if (n > DLP_SPARE_MIN) {
        for (unsigned k = 0; k < DLP_SPARES; k++) {
            char *b = j->spare[k];
            if (b && malloc_usable_size(b) >= n) {
                j->spare[k] = NULL;
                j->spare_bytes -= malloc_usable_size(b);
                return b;
            }
        }
    }
    return malloc(n);
}

/* A task that failed on an agent's pool (DLP_R_LOST, wire.h): fail slot s
 * as it failed there, with its kind, status, attempts and worker. */
static void lost_remote(rslot *s, const unsigned char *payload, uint32_t len)
{
    dlp__rd r;
    uint8_t kind;
    uint32_t signo, status, attempts, pid;
    dlp__rd_init(&r, payload, len);
    if (dlp__get_u8(&r, &kind) || dlp__get_u32(&r, &signo) ||
        dlp__get_u32(&r, &status) || dlp__get_u32(&r, &attempts) ||
        dlp__get_u32(&r, &pid) || kind == DLP_FAIL_NONE ||
        kind > DLP_FAIL_CANCELLED || kind == DLP_FAIL_INPUT) {
        static const char m[] = "malformed failure record from an agent";
        slot_fail(s, DLP_FAIL_RESULT, m, sizeof m - 1);
        return;
    }
    slot_fail(s, (dlp_fail_kind)kind, (const char *)r.p, (size_t)(r.end - r.p));
    /* As a wait status, which slot_view reads back. */
    s->status = kind == DLP_FAIL_SIGNAL ? (int)(signo & 0x7f)
                : kind == DLP_FAIL_EXIT ? (int)((status & 0xff) << 8)
                                        : 0;
    s->attempts = (uint16_t)(attempts ? attempts - 1 : 0);
    s->pid = (int32_t)pid;
}

/* A result record of one of j's batches (batch.h's result, which the
 * loop calls once per task: the job is the batch's owner, and nothing
 * stands between the loop and this). */
static int take_result(dlp__batch *b, uint64_t index, int kind,
                       const unsigned char *payload, uint32_t len, pid_t pid)
{
    dlp_job *j = b->owner;
    DLP_ASSERT_HELD(&j->pool->mu);
    rslot *s = &j->ring[index & j->mask];
    if (s->state != SLOT_PENDING || s->index != index)
        return 0; /* cannot happen: the loop matched it to a sent task */
    s->pid = (int32_t)pid;
    if (kind == DLP_R_LOST) {
        lost_remote(s, payload, len);
    } else if (kind == DLP_R_FAIL) {
        slot_fail(s, DLP_FAIL_PLUGIN, (const char *)payload, len);
    } else if (kind == DLP_R_BADRESULT) {
        slot_fail(s, DLP_FAIL_RESULT, (const char *)payload, len);
    } else if (j->sig.ret == DLP_T_VAL) {
        dlp__rd r;
        dlp_val *v = NULL;
        dlp__rd_init(&r, payload, len);
        if (dlp__val_get(&r, &v) || r.p != r.end) {
            static const char m[] = "malformed val result from the worker";
            dlp_val_free(v);
            slot_fail(s, DLP_FAIL_RESULT, m, sizeof m - 1);
        } else {
            s->data = (char *)v; /* a tree while the slot is not failed */
        }
    } else if (j->sig.ret == DLP_T_STR) {
        s->data = result_buffer(j, (size_t)len + 1);
        if (!s->data) {
            static const char m[] = "out of memory receiving the result";
            slot_fail(s, DLP_FAIL_RESULT, m, sizeof m - 1);
        } else {
            memcpy(s->data, payload, len);
            s->data[len] = 0;
            s->len = len;
        }
    } else if (len == (j->sig.ret == DLP_T_VOID ? 0u : 8u)) {
        if (len)
            memcpy(&s->w, payload, 8);
    } else {
        static const char m[] = "malformed result from the worker";
        slot_fail(s, DLP_FAIL_RESULT, m, sizeof m - 1);
    }
    slot_done(j, s);
    return 0;
}

static void stamp(dlp_job *j, uint64_t index, uint64_t start_ns,
                    uint64_t run_ns)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    rslot *s = &j->ring[index & j->mask];
    if (!j->times || s->state != SLOT_PENDING || s->index != index)
        return;
    j->times[index & j->mask].start = start_ns;
    j->times[index & j->mask].run = run_ns;
}

static int retry_task(dlp_job *j, uint64_t index)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    rslot *s = &j->ring[index & j->mask];
    if (j->pinned)
        return 0; /* a broadcast's task belongs to its worker */
    if (s->state != SLOT_PENDING || s->index != index ||
        s->attempts >= j->retries)
        return 0;
    s->attempts++;
    return 1;
}

static void add_attempts(dlp_job *j, uint64_t index, uint32_t attempts)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    rslot *s = &j->ring[index & j->mask];
    uint32_t n = s->attempts + attempts - 1u;
    if (s->state == SLOT_PENDING && s->index == index)
        s->attempts = (uint16_t)(n > UINT16_MAX ? UINT16_MAX : n);
}

static void task_lost(dlp_job *j, uint64_t index, dlp_fail_kind kind,
                   int status, const char *reason, pid_t pid)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    rslot *s = &j->ring[index & j->mask];
    if (s->state != SLOT_PENDING || s->index != index)
        return;
    s->pid = (int32_t)pid;
    if (s->attempts) {
        char msg[320];
        if (snprintf(msg, sizeof msg, "%s (after %u attempts)", reason,
                     s->attempts + 1u) >= (int)sizeof msg)
            dlp__utf8_trim(msg);
        slot_fail(s, kind, msg, strlen(msg));
    } else {
        slot_fail(s, kind, reason, strlen(reason));
    }
    s->status = status;
    slot_done(j, s);
}

static void feedq_add(dlp_job *j);

static int requeue(dlp_job *j, dlp__batch *b, int have_skip,
                     uint64_t skip)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    if (j->pinned) {
        /* A broadcast's task belongs to the worker it was sent to: with
         * that worker gone it cannot run anywhere else. */
        dlp__rd r;
        uint64_t index;
        uint32_t arglen;
        const unsigned char *args;
        int hit = 0;
        dlp__rd_init(&r, b->frame.p + b->scan, b->frame.len - b->scan);
        while (dlp__task_next(&r, &index, &args, &arglen) == 0) {
            if (have_skip && index == skip) {
                hit = 1;
                continue;
            }
            task_lost(j, index, DLP_FAIL_WORKER, 0,
                          "the worker left before running it", 0);
        }
        dlp__batch_free(b);
        return hit;
    }
    if (j->internal)
        feedq_add(j);
    /* Compact the unanswered records to the front of the frame (moving
     * forward only, so in place), leaving out the skipped one, and make
     * the frame a fresh batch.  The frame is our own, not a peer's. */
    size_t src = b->scan, dst = DLP_BATCH_OFF_TASKS;
    uint32_t count = 0;
    int hit = 0;
    while (src + DLP_TASK_HDR <= b->frame.len) {
        const unsigned char *task = b->frame.p + src;
        size_t reclen = dlp__task_rec_size(task);
        if (have_skip && !hit && dlp__task_rec_index(task) == skip) {
            hit = 1;
        } else {
            memmove(b->frame.p + dst, b->frame.p + src, reclen);
            dst += reclen;
            count++;
        }
        src += reclen;
    }
    if (count == 0) {
        dlp__batch_free(b);
        return hit;
    }
    b->frame.len = dst;
    dlp__batch_frame_set_count(b->frame.p, count);
    dlp__frame_end(&b->frame, 0);
    b->count = count;
    b->done = 0;
    b->scan = DLP_BATCH_OFF_TASKS;
    b->next = NULL;
    if (j->redo_tail)
        j->redo_tail->next = b;
    else
        j->redo = b;
    j->redo_tail = b;
    return hit;
}

static void batch_timing(dlp_job *j, uint32_t n, uint64_t busy_ns)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    double per, t;
    if (n == 0 || j->chunksize)
        return;
    per = (double)busy_ns / n;
    j->ns_per_task = j->ns_per_task == 0 ? per
                                         : 0.7 * j->ns_per_task + 0.3 * per;
    t = j->ns_per_task > 0 ? j->target_ns / j->ns_per_task : j->max_batch;
    /* Grow at most 16x per report, so one fast outlier cannot swing a
     * job of slow tasks into huge batches. */
    if (t > 16.0 * j->target)
        t = 16.0 * j->target;
    if (t < 1)
        t = 1;
    if (t > j->max_batch)
        t = j->max_batch;
    j->target = (uint32_t)t;
}

/* Stamp the task a lost worker was running (for DLP_JOB_TIMES): it ran
 * from start_mono (the scoreboard's dlp__now_ns time) until now. */
static void stamp_lost(dlp_job *j, uint64_t index, uint64_t start_mono)
{
    uint64_t now = dlp__now_ns();
    uint64_t run = now > start_mono ? now - start_mono : 0;
    stamp(j, index, dlp__realtime_ns() - run, run);
}

/* The job as the owner of its batches (batch.h), called by the loop. */
static void job_batch_times(dlp__batch *b, uint64_t index, uint64_t start_ns,
                            uint64_t run_ns)
{
    stamp(b->owner, index, start_ns, run_ns);
}

static void job_batch_attempts(dlp__batch *b, uint64_t index,
                               uint32_t attempts)
{
    add_attempts(b->owner, index, attempts);
}

static void job_batch_results(dlp__batch *b, const dlp__hdr *h,
                              const unsigned char *payload, uint64_t busy_ns,
                              pid_t wpid)
{
    DLP_ASSERT_HELD(&((dlp_job *)b->owner)->pool->mu);
    (void)payload;
    (void)wpid;
    batch_timing(b->owner, h->b, busy_ns);
}

/* The task the scoreboard names fails (or, with retries left, runs
 * again); every other unanswered task (finished but not yet reported, or
 * not started) is sent again. */
static int job_batch_lost(dlp__batch *b, dlp__worker *w,
                          const dlp__batch_loss *loss)
{
    DLP_ASSERT_HELD(&((dlp_job *)b->owner)->pool->mu);
    dlp_job *j = b->owner;
    int running = loss->running;
    (void)w;
    dlp__batch_strip_limits(b);
    int retry = running && retry_task(j, loss->index);
    if (running && !retry && loss->start_mono && j->times)
        stamp_lost(j, loss->index, loss->start_mono);
    if (requeue(j, b, running && !retry, loss->index))
        task_lost(j, loss->index, loss->kind, loss->status, loss->reason,
                  loss->pid);
    return running; /* one running task at most */
}

static void job_batch_limits(const dlp__batch *b, uint64_t *timeout_ns,
                             uint32_t *retries)
{
    DLP_ASSERT_HELD(&((const dlp_job *)b->owner)->pool->mu);
    const dlp_job *j = b->owner;
    *timeout_ns = j->timeout_ns;
    *retries = j->retries;
}

static const dlp__batch_ops job_batch_ops = {
    .result = take_result,
    .times = job_batch_times,
    .attempts = job_batch_attempts,
    .results = job_batch_results,
    .lost = job_batch_lost,
    .limits = job_batch_limits,
};

/* ---- the feeder ----------------------------------------------------- */

/* A new fill batch for job j: a spare of the pool's when mu is held. */
static dlp__batch *new_batch(dlp_job *j, int locked)
{
    dlp__batch *b = locked ? dlp__batch_take(j->pool) : calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->ops = &job_batch_ops;
    b->owner = j;
    b->timeout_ns = j->timeout_ns;
    b->type = DLP_F_BATCH;
    b->job_id = j->id;
    b->fn = (uint32_t)j->fn;
    b->scan = DLP_BATCH_OFF_TASKS;
    if (dlp__frame_begin(&b->frame, DLP_F_BATCH, j->id, (uint32_t)j->fn) <
            0 ||
        dlp__put_u32(&b->frame, 0)) {
        dlp__batch_free(b);
        return NULL;
    }
    if (j->timeout_ns || j->times) {
        uint16_t flags = (uint16_t)((j->timeout_ns ? DLP_BATCH_TIMED : 0) |
                                    (j->times ? DLP_BATCH_TIMES : 0));
        dlp__hdr_set_flags(b->frame.p, flags);
    }
    return b;
}

/* What a task's arguments must be once its iterator has given them, len
 * bytes encoded: every argument given, and no more bytes than a frame
 * holds. */
static void args_check(dlp_args *a, size_t len)
{
    if (!a->bad && a->argi != a->sig->nargs)
        dlp__args_bad(a, "expected %u argument%s, got %u", a->sig->nargs,
                 a->sig->nargs == 1 ? "" : "s", a->argi);
    if (!a->bad && len > DLP_TASK_ARGS_MAX)
        dlp__args_bad(a, "the arguments take %zu bytes, over the limit of %zu",
                 len, (size_t)DLP_TASK_ARGS_MAX);
}

int dlp__job_args(const dlp_sig *sig, dlp_iter_fn next, void *ud,
                  uint64_t index, dlp__buf *b, char *msg, size_t size)
{
    dlp_args a;
    size_t start = b->len;
    int rc;
    memset(&a, 0, sizeof a);
    a.sig = sig;
    a.b = b;
    rc = next(ud, index, &a);
    if (rc == 1)
        args_check(&a, b->len - start);
    if (rc != 1 || a.bad)
        b->len = start;
    if (size)
        snprintf(msg, size, "%s", rc == 1 && a.bad ? a.msg : "");
    return rc;
}

/* Pull up to room tasks into the fill batch.  Runs with mu released:
 * it touches only the fill batch and free slots, which are the owner's. */
static int pull(dlp_job *j, size_t room)
{
    dlp_args *a = &j->args;
    for (size_t k = 0; k < room; k++) {
        dlp__batch *b = j->fill;
        rslot *s = &j->ring[j->next_in & j->mask];
        size_t rec;
        int rc;
        if (!b && !(b = j->fill = new_batch(j, 0)))
            return -ENOMEM;
        rec = b->frame.len;
        if (dlp__put_u64(&b->frame, j->next_in) || dlp__put_u32(&b->frame, 0))
            return -ENOMEM;
        a->sig = &j->sig;
        a->b = &b->frame;
        a->argi = 0;
        a->bad = 0;
        rc = j->next(j->ud, j->next_in, a);
        if (rc <= 0 || rc == DLP_ITER_PAUSE) {
            b->frame.len = rec;
            if (rc == 0)
                j->iter_done = 1;
            else if (rc == DLP_ITER_PAUSE)
                j->paused = 1;
            else
                j->iter_rc = rc;
            return 0;
        }
        args_check(a, b->frame.len - rec - DLP_TASK_HDR);
        s->index = j->next_in;
        if (j->times)
            memset(&j->times[j->next_in & j->mask], 0, sizeof *j->times);
        if (a->bad) {
            b->frame.len = rec;
            slot_fail(s, DLP_FAIL_INPUT, a->msg, strlen(a->msg));
            s->state = SLOT_BAD;
        } else {
            dlp__task_rec_set_arglen(
                b->frame.p + rec,
                (uint32_t)(b->frame.len - rec - DLP_TASK_HDR));
            b->count++;
            s->state = SLOT_PENDING;
            if (j->internal && j->pre.task)
                s->attempts = (uint16_t)j->pre.task[s->index].attempts;
        }
        j->next_in++;
        if (b->frame.len >= DLP_BATCH_BYTES)
            return 0; /* the batch is full by size */
    }
    return 0;
}

/* Send the fill batch to a worker with room, if one has. */
static int send_fill(dlp_job *j)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    dlp__worker *w = dlp__loop_pick(j->pool, DLP_WORKER_DEPTH);
    dlp__batch *b = j->fill;
    if (!w)
        return 0;
    dlp__batch_frame_set_count(b->frame.p, b->count);
    if (dlp__frame_end(&b->frame, 0))
        return DLP_ETOOBIG;
    j->fill = NULL;
    dlp__loop_send(j->pool, w, b);
    return 1;
}

/* Move work towards the workers: resend batches of lost workers, pull new
 * tasks while the window has room, send full batches.  mu held. */
static int feed(dlp_job *j)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    dlp_pool *p = j->pool;
    for (;;) {
        while (j->redo) {
            dlp__worker *w = dlp__loop_pick(p, DLP_WORKER_DEPTH);
            dlp__batch *b = j->redo;
            if (!w)
                return 0;
            j->redo = b->next;
            if (!j->redo)
                j->redo_tail = NULL;
            dlp__loop_send(p, w, b);
        }
        int can_pull = !j->iter_done && !j->iter_rc && !j->paused &&
                       j->next_in - j->delivered < j->limit &&
                       j->ring[j->next_in & j->mask].state == SLOT_EMPTY;
        if (j->fill && j->fill->count &&
            (j->fill->count >= j->target ||
             j->fill->frame.len >= DLP_BATCH_BYTES || !can_pull)) {
            int rc = send_fill(j);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return 0; /* every worker is full */
            continue;
        }
        if (!can_pull)
            return 0;
        /* Room: free slots ahead, up to what the batch still takes. */
        size_t want = j->target - (j->fill ? j->fill->count : 0), room = 0;
        while (room < want && j->next_in + room - j->delivered < j->limit &&
               j->ring[(j->next_in + room) & j->mask].state == SLOT_EMPTY)
            room++;
        uint64_t first = j->next_in;
        if (!j->fill && !(j->fill = new_batch(j, 1)))
            return -ENOMEM;
        /* An internal job's iterator copies bytes it owns: it needs no
         * unlocking, and any driving thread may feed it. */
        if (!j->internal)
            pthread_mutex_unlock(&p->mu);
        int rc = pull(j, room);
        if (!j->internal)
            pthread_mutex_lock(&p->mu);
        for (uint64_t i = first; i < j->next_in; i++) {
            rslot *s = &j->ring[i & j->mask];
            if (s->state == SLOT_BAD)
                slot_done(j, s);
        }
        if (rc)
            return rc;
    }
}

/* ---- handing results out ------------------------------------------- */

/* Describe slot s in res; pointers in res point into the slot. */
static void slot_view(const dlp_job *j, const rslot *s, dlp_result *res)
{
    memset(res, 0, sizeof *res);
    res->index = s->index;
    res->type = j->sig.ret;
    res->fail = (dlp_fail_kind)s->fail;
    res->attempts = s->fail == DLP_FAIL_INPUT || s->fail == DLP_FAIL_CANCELLED
                        ? 0
                        : s->attempts + 1u;
    res->pid = s->pid;
    if (j->times) {
        const struct slot_times *t = &j->times[s->index & j->mask];
        res->start = (double)t->start / 1e9;
        res->run_time = (double)t->run / 1e9;
    }
    if (s->fail) {
        res->error = s->data ? s->data : "out of memory keeping the error";
        if (s->fail == DLP_FAIL_SIGNAL)
            res->signo = WTERMSIG(s->status);
        else if (s->fail == DLP_FAIL_EXIT)
            res->exit_status = WEXITSTATUS(s->status);
        return;
    }
    switch (j->sig.ret) {
    case DLP_T_STR:
        res->v.s.ptr = s->data;
        res->v.s.len = s->len;
        break;
    case DLP_T_VAL:
        res->v.val = (const dlp_val *)(const void *)s->data;
        break;
    case DLP_T_F32:
    case DLP_T_F64:
        memcpy(&res->v.f, &s->w, 8);
        break;
    case DLP_T_BOOL:
        res->v.b = s->w != 0;
        break;
    case DLP_T_VOID:
        break;
    default:
        if (dlp__type_is_signed(j->sig.ret))
            res->v.i = (int64_t)s->w;
        else
            res->v.u = s->w;
    }
}

/* Hand slot s out in res: the job keeps its data until the next one. */
static void fill_result(dlp_job *j, rslot *s, dlp_result *res)
{
    slot_view(j, s, res);
    if (j->held) {
        recycle(j, j->held);
        j->held = NULL;
    }
    if (j->held_val) {
        dlp_val_free(j->held_val);
        j->held_val = NULL;
    }
    if (j->sig.ret == DLP_T_VAL && !s->fail)
        j->held_val = (dlp_val *)(void *)s->data;
    else
        j->held = s->data;
    s->data = NULL;
    s->len = 0;
    s->fail = 0;
    s->status = 0;
    s->attempts = 0;
    s->pid = 0;
    s->state = SLOT_EMPTY;
    j->delivered++;
}

static rslot *ready(dlp_job *j)
{
    if (j->flags & DLP_JOB_UNORDERED) {
        if (!j->dq_len)
            return NULL;
        rslot *s = &j->ring[j->doneq[j->dq_head] & j->mask];
        j->dq_head = (j->dq_head + 1) & j->mask;
        j->dq_len--;
        return s;
    }
    rslot *s = &j->ring[j->next_out & j->mask];
    if (s->state != SLOT_DONE)
        return NULL;
    j->next_out++;
    return s;
}

/* dlp_job_next with a deadline (0: none). */
static int next_until(dlp_job *j, dlp_result *res, uint64_t deadline,
                      dlp_error *err)
{
    dlp_pool *p;
    int rc;
    if (!j || !res)
        return dlp__err(err, DLP_EINVAL, "dlp_job_next: NULL argument");
    if (j->internal)
        return dlp__err(err, DLP_EINVAL,
                        "dlp_job_next: the job belongs to a future");
    p = j->pool;
    pthread_mutex_lock(&p->mu);
    int polled = 0;
    for (;;) {
        rslot *s;
        /* A plain load first: the exchange is a full barrier, too dear
         * for every result. */
        if (__atomic_load_n(&p->interrupted, __ATOMIC_RELAXED) &&
            __atomic_exchange_n(&p->interrupted, 0, __ATOMIC_ACQ_REL)) {
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, -EINTR, "interrupted");
        }
        s = ready(j);
        if (s) {
            fill_result(j, s, res);
            pthread_mutex_unlock(&p->mu);
            return 1;
        }
        if (j->iter_rc && j->delivered == j->next_in) {
            /* Every task pulled before the failure has been handed out. */
            rc = j->iter_rc;
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, rc, "the job's iterator failed: %s",
                            dlp_strerror(rc));
        }
        if (j->iter_done && j->delivered == j->next_in) {
            pthread_mutex_unlock(&p->mu);
            return 0;
        }
        if ((rc = feed(j)) < 0) {
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, rc, "cannot queue tasks: %s",
                            dlp_strerror(rc));
        }
        s = ready(j);
        if (s) {
            fill_result(j, s, res);
            pthread_mutex_unlock(&p->mu);
            return 1;
        }
        if ((j->iter_done || j->iter_rc) && j->delivered == j->next_in)
            continue;
        if (dlp__loop_alive(p) == 0) {
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, DLP_EWORKER,
                            "every worker of the pool is gone (the last: "
                            "%s)",
                            p->last_loss[0] ? p->last_loss : "unknown");
        }
        if (deadline && dlp__now_ns() >= deadline) {
            if (!polled) {
                /* Read what has arrived once before saying "nothing":
                 * a timeout of 0 polls. */
                polled = 1;
                dlp__loop_drive_until(p, -1, 1);
                continue;
            }
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, -ETIMEDOUT, "no result within the timeout");
        }
        if (j->paused && j->wait_fd < 0 && j->delivered == j->next_in) {
            /* Nothing to wait for but the iterator: give it a moment
             * instead of spinning on it. */
            struct timespec ms = {0, 1000000};
            pthread_mutex_unlock(&p->mu);
            nanosleep(&ms, NULL);
            pthread_mutex_lock(&p->mu);
            j->paused = 0;
            continue;
        }
        if (dlp__loop_drive_until(p, j->paused ? j->wait_fd : -1, deadline) ||
            (j->paused && j->wait_fd < 0))
            j->paused = 0;
    }
}

DLP_API int dlp_job_next(dlp_job *j, dlp_result *res, dlp_error *err)
{
    return next_until(j, res, 0, err);
}

DLP_API int dlp_job_next_timeout(dlp_job *j, dlp_result *res, double timeout,
                                 dlp_error *err)
{
    if (isnan(timeout))
        return dlp__err(err, DLP_EINVAL,
                        "dlp_job_next_timeout: a timeout of NaN seconds");
    return next_until(j, res, dlp__loop_deadline(timeout), err);
}

DLP_API int dlp_job_poll(dlp_job *j, dlp_result *res, dlp_error *err)
{
    dlp_pool *p;
    rslot *s;
    if (!j || !res)
        return dlp__err(err, DLP_EINVAL, "dlp_job_poll: NULL argument");
    p = j->pool;
    pthread_mutex_lock(&p->mu);
    s = ready(j);
    if (!s) {
        dlp__loop_drive(p, -1, 1); /* read what has arrived, without waiting */
        s = ready(j);
    }
    if (s) {
        fill_result(j, s, res);
        pthread_mutex_unlock(&p->mu);
        return 1;
    }
    if (j->iter_done && j->delivered == j->next_in) {
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    pthread_mutex_unlock(&p->mu);
    return dlp__err(err, -EAGAIN, "no result is ready");
}

/* ---- the pool's queue of jobs to feed (internal jobs) ------------- */

static void feedq_add(dlp_job *j)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    dlp_pool *p = j->pool;
    if (j->in_feedq || j->cancelled)
        return;
    /* At the tail: calls are sent in the order they were made, and an old
     * one is never starved by new ones. */
    j->in_feedq = 1;
    dlp__list_push_tail(&p->feedq, &j->feed);
}

static void feedq_remove(dlp_job *j)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    if (!j->in_feedq)
        return;
    dlp__list_remove(&j->feed);
    j->in_feedq = 0;
}

/* The job has nothing more to send. */
static int fed(const dlp_job *j)
{
    return !j->redo && (!j->fill || !j->fill->count) &&
           (j->iter_done || j->iter_rc ||
            (j->internal && j->next_in >= j->pre.n));
}

/* ---- for internal jobs (ijob.c) and the job's lifecycle (joblife.c) -- */

void dlp__job_feedq_add(dlp_job *j)
{
    feedq_add(j);
}

void dlp__job_feedq_remove(dlp_job *j)
{
    feedq_remove(j);
}

int dlp__job_fed(const dlp_job *j)
{
    return fed(j);
}

int dlp__job_feed(dlp_job *j)
{
    return feed(j);
}

int dlp__job_pull(dlp_job *j, size_t room)
{
    return pull(j, room);
}

void dlp__job_slot_clear(dlp_job *j, rslot *s)
{
    slot_clear(j, s);
}

void dlp__job_slot_done(dlp_job *j, rslot *s)
{
    slot_done(j, s);
}

void dlp__job_slot_fail(rslot *s, dlp_fail_kind kind, const char *msg,
                        size_t len)
{
    slot_fail(s, kind, msg, len);
}

void dlp__job_slot_view(const dlp_job *j, const rslot *s, dlp_result *res)
{
    slot_view(j, s, res);
}

void dlp__job_task_lost(dlp_job *j, uint64_t index, dlp_fail_kind kind,
                        int status, const char *reason, pid_t pid)
{
    task_lost(j, index, kind, status, reason, pid);
}
