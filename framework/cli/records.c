/*
 * records.c - part of the dlpool command (framework/cli/main.c): what
 * the command keeps of each task besides its output line, and the order
 * its lines are written in.  See records.h.
 *
 * Each result's line goes through here: it is kept in the checkpoint
 * (checkpoint.c), logged (joblog.c, trace.c), and written out, at once or,
 * when results come as they finish, held until its turn (order.c); a
 * rerun's stored lines are written in the places of the input lines they
 * answer.
 */
#include "config.h"

#include "checkpoint.h"
#include "fingerprint.h"
#include "joblog.h"
#include "order.h"
#include "records.h"
#include "text.h"
#include "trace.h"
#include "wfile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Files are flushed at least this often (seconds) while results stream in
 * without a pause; at every pause they are flushed at once. */
#define FLUSH_EVERY 1.0

struct rec {
    rec_config cfg;
    int reorder; /* results come as they finish and are put in order here */
    int capture; /* each line is written to mem first */
    FILE *mem;
    char *mem_buf;
    size_t mem_size;
    /* The failure the line being written reports. */
    int noted;
    dlp_fail_kind note_kind;
    char *note_msg;
    size_t note_cap;
    uint64_t cur_hash;

    uint64_t lines;    /* input lines read */
    uint64_t next_out; /* reorder: the index whose line is written next */
    uint64_t written, failures;
    /* Every line written to the output, stored ones included, by how
     * its task ended: the closing count says what the output holds. */
    uint64_t by_kind[DLP_FAIL_CANCELLED + 1];
    int stopped; /* --halt now reached: nothing more is written */

    order ord;
    ckpt *ck; /* the checkpoint, or NULL */
    wfile *joblog;
    trace *trace;

    int dirty, finished;
    double last_flush;
    text_error err;
};

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- writing lines out ------------------------------------------------- */

/* A line of a task that ended with kind has been written out. */
static void count_line(rec *r, dlp_fail_kind kind)
{
    if (kind != DLP_FAIL_NONE)
        r->failures++;
    if ((unsigned)kind <= DLP_FAIL_CANCELLED)
        r->by_kind[kind]++;
}

static void put_line(rec *r, const char *p, size_t n, dlp_fail_kind kind)
{
    fwrite(p, 1, n, r->cfg.out);
    count_line(r, kind);
}

/* Whether --halt now has been reached: nothing more is written. */
static int halted(const rec *r)
{
    return r->cfg.halt_now_after && r->failures >= r->cfg.halt_now_after;
}

/* The stored task whose turn has come: its line written, and the task
 * counted and reported as it was the first time. */
static int emit_stored(rec *r)
{
    uint64_t index;
    dlp_fail_kind kind;
    char *msg = NULL;
    const char *line;
    size_t len;
    if (ckpt_take(r->ck, &index, &kind, &msg, &line, &len))
        return -1;
    put_line(r, line, len, kind);
    if (r->cfg.stored)
        r->cfg.stored(r->cfg.stored_ud, index, kind,
                      kind == DLP_FAIL_NONE ? NULL
                      : msg                 ? msg
                                            : "(no message)");
    free(msg);
    return 0;
}

static int emit_held(rec *r, held *h)
{
    int rc = 0;
    if (h->line) {
        put_line(r, h->line, h->len, h->kind);
        free(h->line);
    } else {
        dlp_fail_kind kind;
        const char *line;
        size_t len;
        if ((rc = ckpt_read_line(r->ck, h->index, h->off, &kind, &line,
                                 &len)) == 0)
            put_line(r, line, len, kind);
    }
    r->written++;
    return rc;
}

/* Write the lines whose turn has come: stored ones (once the input line
 * they answer has been read and checked) and held ones. */
static int drain(rec *r)
{
    while (!r->stopped) {
        uint64_t index;
        const held *first;
        if (r->ck && ckpt_ready(r->ck, &index) && index == r->next_out) {
            if (emit_stored(r))
                return -1;
        } else if ((first = order_first(&r->ord)) &&
                   first->index == r->next_out) {
            held h = order_take(&r->ord);
            if (emit_held(r, &h))
                return -1;
        } else {
            return 0;
        }
        r->next_out++;
        if (halted(r))
            r->stopped = 1;
    }
    return 0;
}

static int flush_all(rec *r)
{
    int rc = 0, e;
    if (r->ck && ckpt_flush(r->ck))
        rc = -1;
    if (r->joblog && (e = wfile_flush(r->joblog)))
        rc = text_fail(&r->err, "writing --joblog %s: %s", r->cfg.joblog,
                       strerror(e));
    if (r->trace && (e = trace_flush(r->trace)))
        rc = text_fail(&r->err, "writing --trace %s: %s", r->cfg.trace,
                       strerror(e));
    r->dirty = 0;
    r->last_flush = now_mono();
    return rc;
}

/* ---- the interface ------------------------------------------------------ */

int rec_open(rec **out, const rec_config *cfg, char *msg, size_t size)
{
    rec *r = calloc(1, sizeof *r);
    *out = r;
    if (!r) {
        snprintf(msg, size, "out of memory");
        return -1;
    }
    r->cfg = *cfg;
    /* A checkpoint takes results as they finish, so that a slow task
     * keeps no finished one out of the file, and puts them in order here
     * (what it holds out of turn is an offset into the file, not the
     * line).  A job log or trace alone leaves the job ordered: its window
     * bounds what is held, and rows come in input order. */
    r->reorder = !cfg->unordered && cfg->checkpoint;
    r->capture = r->reorder || cfg->checkpoint;
    if (r->capture &&
        !(r->mem = open_memstream(&r->mem_buf, &r->mem_size))) {
        text_fail(&r->err, "out of memory");
        goto bad;
    }
    if (cfg->checkpoint) {
        fingerprint_of of = {cfg->ref, cfg->sig, cfg->input_name,
                             cfg->input_fd, cfg->records};
        if (ckpt_open(&r->ck, cfg->checkpoint, &of, &r->err))
            goto bad;
    }
    if (cfg->joblog && !(r->joblog = wfile_open(cfg->joblog))) {
        text_fail(&r->err, "cannot open --joblog %s: %s", cfg->joblog,
                  strerror(errno));
        goto bad;
    }
    /* The trace's JSON is begun here, so that whatever happens next the
     * file is closed as JSON (rec_finish). */
    if (cfg->trace && !(r->trace = trace_open(cfg->trace, cfg->ref))) {
        text_fail(&r->err, "cannot open --trace %s: %s", cfg->trace,
                  strerror(errno));
        goto bad;
    }
    if (r->joblog) {
        joblog_header(r->joblog);
        r->dirty = 1;
    }
    if (r->trace)
        r->dirty = 1;
    return 0;
bad:
    snprintf(msg, size, "%s", r->err.msg);
    return -1;
}

unsigned rec_job_flags(const rec *r)
{
    return (r->cfg.joblog || r->cfg.trace ? DLP_JOB_TIMES : 0u) |
           (r->reorder ? DLP_JOB_UNORDERED : 0u);
}

int rec_start(rec *r)
{
    r->last_flush = now_mono();
    return r->ck ? ckpt_start(r->ck) : 0;
}

int rec_line(rec *r, uint64_t pool_index, const char *text, size_t len)
{
    return rec_line_hash(
        r, pool_index,
        r->ck ? fingerprint_hash(FINGERPRINT_HASH_START, text, len) : 0);
}

int rec_line_hash(rec *r, uint64_t pool_index, uint64_t h)
{
    uint64_t index = r->lines++;
    int rc;
    if (!r->ck)
        return 0;
    if ((rc = ckpt_check_line(r->ck, index, h)) == 1) {
        if (r->reorder) {
            if (drain(r))
                return -1;
        } else {
            while (!r->stopped && ckpt_ready(r->ck, NULL)) {
                if (emit_stored(r))
                    return -1;
                if (halted(r))
                    r->stopped = 1;
            }
        }
        return 1;
    }
    if (rc < 0)
        return -1;
    if (order_track(&r->ord, pool_index, index, h))
        return text_fail(&r->err, "out of memory");
    return 0;
}

int rec_input_end(rec *r)
{
    return r->ck ? ckpt_input_end(r->ck, r->lines) : 0;
}

int rec_skips(const rec *r)
{
    return r->ck != NULL;
}

uint64_t rec_lines(const rec *r)
{
    return r->lines;
}

FILE *rec_begin(rec *r, dlp_result *res)
{
    flight f;
    if (r->ck && order_untrack(&r->ord, res->index, &f)) {
        res->index = f.input;
        r->cur_hash = f.hash;
    }
    r->noted = 0;
    if (r->capture) {
        rewind(r->mem);
        return r->mem;
    }
    return r->cfg.out;
}

void rec_note_failure(rec *r, dlp_fail_kind kind, const char *msg)
{
    size_t n = strlen(msg) + 1;
    if (!r)
        return;
    if (n > r->note_cap) {
        char *m = realloc(r->note_msg, n);
        if (!m)
            return;
        r->note_msg = m;
        r->note_cap = n;
    }
    memcpy(r->note_msg, msg, n);
    r->note_kind = kind;
    r->noted = 1;
}

int rec_end(rec *r, const dlp_result *res)
{
    dlp_fail_kind kind = r->noted ? r->note_kind : res->fail;
    const char *msg = r->noted ? r->note_msg : res->error;
    const char *line = NULL;
    size_t len = 0;
    uint64_t off = 0;
    if (r->capture) {
        off_t at;
        fflush(r->mem);
        at = ftello(r->mem);
        line = r->mem_buf;
        len = at > 0 ? (size_t)at : 0;
    }
    if (r->ck) {
        if (ckpt_append(r->ck, res->index, r->cur_hash, kind, msg, line, len,
                        &off))
            return -1;
        r->dirty = 1;
    }
    if (r->joblog) {
        joblog_row(r->joblog, res, kind, msg);
        r->dirty = 1;
    }
    if (r->trace) {
        trace_task(r->trace, res, kind, msg);
        r->dirty = 1;
    }
    if (!r->capture) {
        r->written++;
        count_line(r, kind);
    } else if (r->stopped) {
        /* --halt now: the line is kept in the checkpoint, not written. */
    } else if (!r->reorder || res->index == r->next_out) {
        put_line(r, line, len, kind);
        r->written++;
        if (halted(r))
            r->stopped = 1;
        if (r->reorder) {
            r->next_out++;
            if (drain(r))
                return -1;
        }
    } else {
        /* Out of its turn: held, in the checkpoint if there is one (read
         * back when its turn comes), else in memory. */
        held h = {res->index, off, NULL, len, kind};
        if (!r->ck) {
            if (!(h.line = malloc(len ? len : 1)))
                return text_fail(&r->err, "out of memory");
            memcpy(h.line, line, len);
        }
        if (order_hold(&r->ord, h)) {
            free(h.line);
            return text_fail(&r->err, "out of memory");
        }
    }
    if (r->dirty && now_mono() - r->last_flush >= FLUSH_EVERY)
        return flush_all(r);
    return r->err.msg[0] ? -1 : 0;
}

int rec_records(const rec *r)
{
    return r->cfg.records;
}

uint64_t rec_written(const rec *r)
{
    return r->written;
}

uint64_t rec_failures(const rec *r)
{
    return r->failures;
}

uint64_t rec_lines_of(const rec *r, dlp_fail_kind kind)
{
    return (unsigned)kind <= DLP_FAIL_CANCELLED ? r->by_kind[kind] : 0;
}

double rec_wait(const rec *r)
{
    return r->dirty ? 0 : -1;
}

void rec_idle(rec *r)
{
    if (r->dirty)
        flush_all(r);
}

int rec_finish(rec *r, int write_rest)
{
    if (r->finished)
        return r->err.msg[0] ? -1 : 0;
    r->finished = 1;
    if (write_rest && r->reorder && !r->err.msg[0])
        drain(r);
    if (r->trace) {
        trace_end(r->trace);
        r->dirty = 1;
    }
    flush_all(r);
    if (r->trace) {
        int e = trace_close(r->trace);
        if (e)
            text_fail(&r->err, "writing --trace %s: %s", r->cfg.trace,
                      strerror(e));
        r->trace = NULL;
    }
    if (r->joblog) {
        int e = wfile_close(r->joblog);
        if (e)
            text_fail(&r->err, "writing --joblog %s: %s", r->cfg.joblog,
                      strerror(e));
        r->joblog = NULL;
    }
    return r->err.msg[0] ? -1 : 0;
}

const char *rec_error(const rec *r)
{
    return r && r->err.msg[0] ? r->err.msg : NULL;
}

const char *rec_note(const rec *r)
{
    return r && r->ck ? ckpt_note(r->ck) : NULL;
}

void rec_close(rec *r)
{
    if (!r)
        return;
    /* A run that stopped early (output closed, set-up failed) still
     * leaves its files whole. */
    rec_finish(r, 0);
    ckpt_close(r->ck);
    if (r->mem)
        fclose(r->mem);
    free(r->mem_buf);
    order_free(&r->ord);
    free(r->note_msg);
    free(r);
}
