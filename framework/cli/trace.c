/*
 * trace.c - part of the dlpool command (framework/cli/main.c): the
 * events of --trace.  See trace.h.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dlpool.h"
#include "text.h"
#include "trace.h"
#include "wfile.h"

/* The table of workers already named: past this many it starts again
 * (naming a worker twice is harmless), so it stays small when workers are
 * replaced all the time. */
#define PIDS_MAX 4096u

struct trace {
    wfile *f;
    int events; /* written so far: each after the first follows a comma */
    double t0;  /* when the run started (the real-time clock) */
    int run_pid;
    int *pids; /* the workers named, an open-addressing set */
    size_t pids_cap, pids_n;
    unsigned rows;
    int input_row; /* the input's row is named */
};

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A process ID's first slot in a table of mask + 1 (a power of two). */
static size_t pid_home(uint64_t k, size_t mask)
{
    return (size_t)((k * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

static void trace_event_start(trace *t)
{
    wfile_puts(t->f, t->events++ ? ",\n" : "\n");
}

/* Name row tid once: "worker PID" (or "input" for tid 0), in the order
 * the rows first appear. */
static void trace_row(trace *t, int tid)
{
    size_t mask, i;
    if (tid == 0) {
        if (t->input_row)
            return;
        t->input_row = 1;
    } else {
        if ((t->pids_n + 1) * 2 > t->pids_cap) {
            size_t cap = t->pids_cap ? t->pids_cap * 2 : 64;
            if (cap > PIDS_MAX) {
                /* Forget them all: a row named again is still one row. */
                memset(t->pids, 0, t->pids_cap * sizeof *t->pids);
                t->pids_n = 0;
            } else {
                int *tab = calloc(cap, sizeof *tab);
                if (!tab)
                    return;
                for (size_t k = 0; k < t->pids_cap; k++) {
                    if (!t->pids[k])
                        continue;
                    for (i = pid_home((uint64_t)t->pids[k], cap - 1); tab[i];
                         i = (i + 1) & (cap - 1))
                        ;
                    tab[i] = t->pids[k];
                }
                free(t->pids);
                t->pids = tab;
                t->pids_cap = cap;
            }
        }
        mask = t->pids_cap - 1;
        for (i = pid_home((uint64_t)tid, mask); t->pids[i]; i = (i + 1) & mask)
            if (t->pids[i] == tid)
                return;
        t->pids[i] = tid;
        t->pids_n++;
    }
    trace_event_start(t);
    wfile_printf(t->f,
            "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
            "\"args\":{\"name\":",
            t->run_pid, tid);
    if (tid) {
        char name[32];
        snprintf(name, sizeof name, "worker %d", tid);
        wfile_str(t->f, name, strlen(name));
    } else {
        wfile_str(t->f, "input", 5);
    }
    wfile_puts(t->f, "}}");
    trace_event_start(t);
    wfile_printf(t->f,
            "{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%d,"
            "\"tid\":%d,\"args\":{\"sort_index\":%u}}",
            t->run_pid, tid, tid ? ++t->rows : 0);
}

void trace_task(trace *t, const dlp_result *res, dlp_fail_kind kind,
                const char *msg)
{
    double start = res->start, dur = res->run_time, ts;
    char name[48];
    if (res->attempts == 0 || res->pid == 0) {
        /* It never ran (its line was bad): a marker on the input row. */
        trace_row(t, 0);
        trace_event_start(t);
        snprintf(name, sizeof name, "task %" PRIu64 ": %s", res->index,
                 text_kind(kind));
        wfile_puts(t->f, "{\"name\":");
        wfile_str(t->f, name, strlen(name));
        wfile_printf(t->f,
                ",\"cat\":\"input\",\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,"
                "\"tid\":0,\"ts\":%.3f,\"args\":{\"index\":%" PRIu64,
                t->run_pid, (now_real() - t->t0) * 1e6, res->index);
        if (msg) {
            wfile_puts(t->f, ",\"error\":");
            wfile_str(t->f, msg, strlen(msg));
        }
        wfile_puts(t->f, "}}");
        return;
    }
    if (start <= 0) {
        /* No times (DLP_JOB_TIMES not honoured): a span ending now. */
        start = now_real() - (dur > 0 ? dur : 0);
    }
    ts = (start - t->t0) * 1e6;
    if (ts < 0)
        ts = 0;
    trace_row(t, res->pid);
    trace_event_start(t);
    snprintf(name, sizeof name, "task %" PRIu64, res->index);
    wfile_printf(t->f,
            "{\"name\":\"%s\",\"cat\":\"task\",\"ph\":\"X\",\"pid\":%d,"
            "\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"index\":%" PRIu64
            ",\"status\":\"%s\",\"attempts\":%u",
            name, t->run_pid, res->pid, ts, dur > 0 ? dur * 1e6 : 0,
            res->index, text_kind(kind), res->attempts);
    if (kind != DLP_FAIL_NONE && msg) {
        wfile_puts(t->f, ",\"error\":");
        wfile_str(t->f, msg, strlen(msg));
    }
    wfile_puts(t->f, "}}");
    if (kind == DLP_FAIL_SIGNAL || kind == DLP_FAIL_EXIT ||
        kind == DLP_FAIL_TIMEOUT || kind == DLP_FAIL_WORKER) {
        /* The worker died with it (or was killed for it): a marker where
         * its row ends; its replacement is a new row. */
        trace_event_start(t);
        wfile_puts(t->f, "{\"name\":");
        wfile_str(t->f, msg ? msg : text_kind(kind),
                strlen(msg ? msg : text_kind(kind)));
        wfile_printf(t->f,
                ",\"cat\":\"failure\",\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,"
                "\"tid\":%d,\"ts\":%.3f,\"args\":{\"index\":%" PRIu64
                ",\"status\":\"%s\"}}",
                t->run_pid, res->pid, ts + (dur > 0 ? dur * 1e6 : 0),
                res->index, text_kind(kind));
    }
}

trace *trace_open(const char *path, const char *ref)
{
    trace *t = calloc(1, sizeof *t);
    char name[512];
    if (!t)
        return NULL;
    if (!(t->f = wfile_open(path))) {
        free(t);
        return NULL; /* errno is wfile_open's */
    }
    t->run_pid = (int)getpid();
    t->t0 = now_real();
    wfile_puts(t->f, "{\"traceEvents\":[");
    trace_event_start(t);
    wfile_printf(t->f,
                 "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,"
                 "\"tid\":0,\"args\":{\"name\":",
                 t->run_pid);
    snprintf(name, sizeof name, "dlpool run %s", ref);
    wfile_str(t->f, name, strlen(name));
    wfile_puts(t->f, "}}");
    return t;
}

void trace_end(trace *t)
{
    wfile_puts(t->f, "\n],\"displayTimeUnit\":\"ms\"}\n");
}

int trace_flush(trace *t)
{
    return wfile_flush(t->f);
}

int trace_close(trace *t)
{
    int e = wfile_close(t->f);
    free(t->pids);
    free(t);
    return e;
}
