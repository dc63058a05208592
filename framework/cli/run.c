/*
 * run.c - part of the dlpool command (framework/cli/main.c): `dlpool
 * run`, from its command line to its exit status.  See run.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlpool.h"
#include "options.h"
#include "output.h"
#include "progress.h"
#include "reader.h"
#include "records.h"
#include "results.h"
#include "run.h"
#include "say.h"
#include "signals.h"
#include "sources.h"
#include "text.h"

/* Where the results go: standard output, through a writer of our own
 * (output.c). */
static output *run_out;

/* A run: what each of its steps leaves to the next. */
typedef struct run_state {
    run_options o;
    reader in;    /* the input, or (::: sources) its stop flag and records */
    arglist args; /* the ::: sources, when the tasks come from them */
    results res;  /* the lines written; .rec: the run's records */
    char sources[64];
    dlp_pool *pool;
    dlp_job *job;
    dlp_error err;
    int rc; /* what the last wait for a result returned */
    int halted, out_said, by_signal;
} run_state;

/* Say what was not run: tasks read but unfinished, and input not read. */
static void say_not_run(const char *why, dlp_job *job, const reader *in,
                        uint64_t written)
{
    dlp_job_counts n;
    dlp_job_counts_get(job, &n);
    fprintf(stderr, "%s: %s: %" PRIu64 " task%s read but not finished or "
            "not written",
            PROG, why, n.pulled - written, n.pulled - written == 1 ? "" : "s");
    if (in->eof && in->start == in->end)
        fprintf(stderr, "\n");
    else
        fprintf(stderr, "; input from line %" PRIu64 " on was not read\n",
                rec_lines(in->rec) + 1);
}

/* The closing line when tasks failed: "dlpool: 3 of 5 tasks failed (2
 * killed by a signal, 1 timed out)", each count with its kind. */
static void say_failures(const counts *c)
{
    static const char *const kinds[][2] = {
        {"", ""},
        {"plugin error", "plugin errors"},
        {"bad input", "bad inputs"},
        {"killed by a signal", "killed by a signal"},
        {"exited", "exited"},
        {"bad result", "bad results"},
        {"worker lost", "workers lost"},
        {"timed out", "timed out"}};
    uint64_t total = c->failed + c->ok, named = 0;
    const char *sep = "";
    fprintf(stderr, "%s: %" PRIu64 " of %" PRIu64 " task%s failed (", PROG,
            c->failed, total, total == 1 ? "" : "s");
    for (unsigned k = 1; k <= DLP_FAIL_TIMEOUT; k++) {
        if (c->by_kind[k]) {
            fprintf(stderr, "%s%" PRIu64 " %s", sep, c->by_kind[k],
                    kinds[k][c->by_kind[k] != 1]);
            named += c->by_kind[k];
            sep = ", ";
        }
    }
    if (named < c->failed)
        fprintf(stderr, "%s%" PRIu64 " cancelled", sep, c->failed - named);
    fprintf(stderr, ")\n");
}

/* The counts of the lines the output holds (records.c counts them as
 * they are written, stored ones included): a line finished but never
 * written (held for its turn at --halt now) is not in the closing line. */
static void written_counts(const rec *r, counts *c)
{
    memset(c, 0, sizeof *c);
    c->ok = rec_lines_of(r, DLP_FAIL_NONE);
    c->failed = rec_failures(r);
    for (unsigned k = 1; k <= DLP_FAIL_TIMEOUT; k++)
        c->by_kind[k] = rec_lines_of(r, (dlp_fail_kind)k);
}

/* Before the progress line is drawn again on the terminal that standard
 * output is too: the results so far go out first (not from the timer's
 * handler: draws happen in the command's own loop).  A failure is kept
 * by the writer and said when the run ends. */
static void flush_results(void)
{
    if (run_out)
        output_flush(run_out);
}

/* Draw progress for a run of this job: its size is the number of
 * combinations of command-line arguments, or the size of a regular input
 * file, or not known (a pipe). */
static void start_progress(reader *in, const arglist *args, dlp_job *job)
{
    progress_size size = {0, 0, NULL, NULL, job};
    int rc;
    if (args->nsrc)
        size.tasks = args->total;
    else
        reader_size(in, &size);
    if ((rc = progress_start(2, &size, isatty(1) ? flush_results : NULL,
                             signals_wake_pool)))
        fprintf(stderr, "%s: --progress: cannot start its timer: %s\n", PROG,
                strerror(-rc));
}

/* A step of the start-up failed with msg: status 2, unless a signal
 * interrupted it (loading a plugin that takes long): then the signal's. */
static int setup_failed(const char *msg)
{
    if (signals_caught()) {
        fprintf(stderr, "%s: %s: ", PROG,
                signals_caught() == SIGINT ? "interrupted by SIGINT"
                                     : "terminated by SIGTERM");
        text_put_escaped(stderr, msg);
        fputs("; no task was run\n", stderr);
        return 128 + signals_caught();
    }
    say(msg);
    return EXIT_SETUP;
}

/* Writing the results failed: 141 for a reader that went away (as
 * SIGPIPE would, silently); any other error is said, with status 2. */
static int output_failed(void)
{
    int e = output_error(run_out);
    if (e == EPIPE)
        return 128 + SIGPIPE;
    progress_erase();
    fprintf(stderr, "%s: writing results to %s: %s\n", PROG,
            output_name(run_out), strerror(e));
    return EXIT_SETUP;
}

/* Under mpirun -n K: rank 0 is this command as usual, with its workers on
 * the other ranks; every other rank is an agent.  -1 when this process is
 * the command, else the agent's exit status. */
static int mpi_role(dlp_pool_options *popts)
{
    dlp_error err = {0, ""};
    int rank = 0, size = 1;
    if (dlp_mpi_launched(&rank, &size) && size > 1) {
        if (rank > 0) {
            if (dlp_mpi_agent(popts, &err)) {
                char who[32];
                snprintf(who, sizeof who, "rank %d", rank);
                say2(who, err.msg);
                return EXIT_SETUP;
            }
            return 0;
        }
        popts->transport = DLP_TRANSPORT_MPI;
    }
    return -1;
}

/* The input: INPUT, standard input, or nothing when the tasks come from
 * the command line.  0, or status 2 (it cannot be opened). */
static int open_input(run_state *rs)
{
    reader *in = &rs->in;
    const char *path = rs->o.path;
    memset(in, 0, sizeof *in);
    in->max_line = rs->o.max_line;
    in->fd = 0;
    in->name = "standard input";
    if (path && strcmp(path, "-") != 0) {
        in->fd = open(path, O_RDONLY | O_CLOEXEC);
        in->name = path;
        if (in->fd < 0) {
            fprintf(stderr, "%s: cannot open input '%s': %s\n", PROG, path,
                    strerror(errno));
            return EXIT_SETUP;
        }
    }
    if (rs->args.nsrc) {
        /* The tasks come from the command line: nothing is read. */
        in->fd = -1;
        in->eof = 1;
        rs->args.in = in;
        rs->res.args = &rs->args;
    }
    return 0;
}

/* The writer of the results, and the records (before the pool starts: a
 * checkpoint of another run is refused).  0, or the exit status. */
static int open_records(run_state *rs)
{
    const run_options *o = &rs->o;
    rec_config rcfg;
    char msg[1024];
    memset(&rcfg, 0, sizeof rcfg);
    rcfg.records = o->records;
    rcfg.checkpoint = o->checkpoint;
    rcfg.joblog = o->joblog;
    rcfg.trace = o->trace;
    rcfg.unordered = !!(o->job.flags & DLP_JOB_UNORDERED);
    rcfg.ref = o->ref;
    rcfg.sig = o->sig;
    if (rs->args.nsrc)
        snprintf(rs->sources, sizeof rs->sources, "::: (%" PRIu64 " tasks)",
                 rs->args.total);
    rcfg.input_name = rs->args.nsrc ? rs->sources : rs->in.name;
    rcfg.input_fd = rs->in.fd;
    if (!(run_out = output_open(1, "standard output", signals_flag(), 0))) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return EXIT_SETUP;
    }
    rs->in.out = run_out;
    rcfg.out = output_stream(run_out);
    rcfg.halt_now_after = o->halt_when == HALT_NOW ? o->halt_fails : 0;
    rcfg.stored = results_stored;
    rcfg.stored_ud = &rs->res;
    if (rec_open(&rs->res.rec, &rcfg, msg, sizeof msg)) {
        say(msg);
        return EXIT_SETUP;
    }
    if (rec_note(rs->res.rec))
        say(rec_note(rs->res.rec));
    rs->in.rec = rs->res.rec;
    return 0;
}

/* The pool, no larger than the tasks need, and the function resolved in
 * it (*fn).  0, or the exit status. */
static int start_pool(run_state *rs, int *fn)
{
    dlp_pool_options *popts = &rs->o.pool;
    size_t tasks = rs->args.nsrc ? (size_t)rs->args.total
                                 : reader_small_tasks(&rs->in);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned want = popts->workers ? popts->workers
                                   : (unsigned)(cpus > 0 ? cpus : 1);
    if (tasks && tasks < want)
        popts->workers = (unsigned)tasks;
    signals_catch();
    if (dlp_pool_create(&rs->pool, popts, &rs->err))
        return setup_failed(rs->err.msg);
    signals_set_pool(rs->pool);
    if (signals_caught())
        dlp_pool_interrupt(rs->pool); /* a signal came during start-up */
    if ((*fn = dlp_pool_fn(rs->pool, rs->o.ref, rs->o.sig, &rs->err)) < 0)
        return setup_failed(rs->err.msg);
    return 0;
}

/* The job of function fn over the tasks, the records' start, and the
 * progress line.  0, or the exit status. */
static int start_job(run_state *rs, int fn)
{
    reader *in = &rs->in;
    dlp_job_options *jopts = &rs->o.job;
    const arglist *args = &rs->args;
    in->sig = dlp_pool_fn_sig(rs->pool, fn);
    in->array_arg = in->sig->nargs == 1 && DLP_T_IS_ARRAY(in->sig->args[0]);
    if (args->nsrc && args->nsrc != in->sig->nargs) {
        fprintf(stderr, "%s: %s takes %u argument%s, got %u source%s of "
                "arguments (one ::: or :::: FILE per argument)\n",
                PROG, rs->o.ref, in->sig->nargs,
                in->sig->nargs == 1 ? "" : "s", args->nsrc,
                args->nsrc == 1 ? "" : "s");
        return EXIT_SETUP;
    }
    if (!args->nsrc) {
        jopts->flags |= DLP_JOB_WAIT_FD;
        jopts->wait_fd = in->fd;
    }
    jopts->flags |= rec_job_flags(rs->res.rec);
    if (dlp_job_create(&rs->job, rs->pool, fn,
                       args->nsrc ? sources_next_task : reader_next_task,
                       args->nsrc ? (void *)&rs->args : (void *)in, jopts,
                       &rs->err))
        return setup_failed(rs->err.msg);
    if (rec_start(rs->res.rec)) {
        say(rec_error(rs->res.rec));
        return EXIT_SETUP;
    }
    if (rs->o.show_progress == 1 || (rs->o.show_progress < 0 && isatty(2)))
        start_progress(in, args, rs->job);
    return 0;
}

/* Write each result as it comes, until the job ends, a signal or --halt
 * stops it, or the output or a file of the records fails. */
static void collect(run_state *rs)
{
    const run_options *o = &rs->o;
    results *w = &rs->res;
    int rc;
    for (;;) {
        dlp_result r;
        rc = dlp_job_next_timeout(rs->job, &r, rec_wait(w->rec), &rs->err);
        if (rc == -ETIMEDOUT) {
            rec_idle(w->rec); /* a pause: the files are flushed */
            continue;
        }
        if (rc == -EINTR && !signals_caught() && progress_tick())
            continue; /* a redraw of the progress line */
        if (rc <= 0)
            break;
        progress_before_output();
        if (results_write(w, &r))
            break; /* a file of records.c cannot be written */
        progress_update(w->n.ok + w->n.failed, w->n.failed);
        if (rs->in.paused)
            output_flush(run_out);
        if (output_error(run_out))
            break;
        /* Failures written, in output order (with --checkpoint, results
         * come as they finish and are put in order by records.c). */
        if (o->halt_when != HALT_NEVER && !rs->halted &&
            rec_failures(w->rec) >= o->halt_fails) {
            rs->halted = 1;
            if (o->halt_when == HALT_NOW)
                break;
            rs->in.stop = 1; /* soon: read no more input, finish the rest */
        }
    }
    /* A rerun whose checkpoint already holds the failures that halt it
     * stops on stored lines alone (records.c writes no line past them):
     * it halted all the same, and says so. */
    if (o->halt_when != HALT_NEVER && !rs->halted && rc >= 0 &&
        rec_failures(w->rec) >= o->halt_fails)
        rs->halted = 1;
    rs->rc = rc;
}

/* Stopped by a signal: hand out what has already finished, in order,
 * then say what was not run.  The signal's exit status. */
static int finish_by_signal(run_state *rs)
{
    rec *recs = rs->res.rec;
    dlp_result r;
    int prc, ticks = 0;
    /* A progress tick may have interrupted the pool once more: that is
     * no reason to stop handing out what has finished. */
    while (((prc = dlp_job_poll(rs->job, &r, NULL)) == 1 ||
            (prc == -EINTR && ++ticks < 4)) &&
           !output_error(run_out))
        if (prc == 1)
            results_write(&rs->res, &r);
    rec_finish(recs, 1);
    output_flush(run_out);
    say_not_run(signals_caught() == SIGINT ? "interrupted by SIGINT"
                                           : "terminated by SIGTERM",
                rs->job, &rs->in, rec_written(recs) - output_lost(run_out));
    if (rec_error(recs))
        say(rec_error(recs));
    return 128 + signals_caught();
}

/* The end of a run that collected its results: the rest written, what
 * went wrong said.  The exit status. */
static int finish(run_state *rs)
{
    const run_options *o = &rs->o;
    rec *recs = rs->res.rec;
    progress_end(); /* before the results and messages that follow */
    output_flush(run_out);
    /* Stopped by a signal: a write it cut short (EINTR) is part of that
     * stop, and so is a reader gone meanwhile (EPIPE: Ctrl-C ends every
     * process of the pipeline, the reader too): the signal's status and
     * message win over 141. */
    rs->by_signal = signals_caught() &&
                    (rs->rc == -EINTR || output_error(run_out) == EINTR ||
                     output_error(run_out) == EPIPE);
    if (output_error(run_out) && !rs->by_signal) {
        /* The reader went away (| head), or the output cannot be
         * written: stop, but reap the workers first. */
        int status = output_failed();
        rs->out_said = 1;
        if (rec_error(recs)) /* a file of the run failed too */
            say(rec_error(recs));
        return status;
    }
    if (rs->by_signal)
        return finish_by_signal(rs);
    /* The lines whose turn has come (not after --halt now); the files
     * flushed and closed. */
    rec_finish(recs, !(rs->halted && o->halt_when == HALT_NOW));
    output_flush(run_out);
    if (rs->halted) {
        char why[96];
        snprintf(why, sizeof why, "halted (%s, fail=%" PRIu64 ")",
                 o->halt_when == HALT_NOW ? "now" : "soon", o->halt_fails);
        say_not_run(why, rs->job, &rs->in, rec_written(recs));
    }
    if (rs->rc < 0 || rec_error(recs)) {
        if (rs->in.io_errno)
            fprintf(stderr, "%s: reading %s: %s\n", PROG, rs->in.name,
                    strerror(rs->in.io_errno));
        else if (rec_error(recs))
            say(rec_error(recs));
        else
            say(rs->err.msg);
        return EXIT_SETUP;
    }
    written_counts(recs, &rs->res.n);
    if (rs->res.n.failed) {
        say_failures(&rs->res.n);
        return EXIT_TASKS_FAILED;
    }
    return 0;
}

/* Whichever way the run ends: the files flushed and closed, the workers
 * reaped, the last lines written.  The exit status, status unless the
 * files or the output fail now. */
static int run_end(run_state *rs, int status)
{
    rec *recs = rs->res.rec;
    progress_end();
    /* The files flushed and closed after a run that stopped early (the
     * output failed): a file that cannot be written is said too. */
    if (recs && !rec_error(recs) && rec_finish(recs, 0)) {
        say(rec_error(recs));
        if (status < EXIT_SETUP || status == 128 + SIGPIPE)
            status = EXIT_SETUP;
    }
    rec_close(recs); /* after a failure too: the checkpoint is flushed */
    rs->res.rec = NULL;
    dlp_job_destroy(rs->job);
    signals_set_pool(NULL);
    dlp_pool_destroy(rs->pool);
    free(rs->in.buf);
    rs->res.args = NULL;
    sources_free(&rs->args);
    if (rs->in.fd > 0)
        close(rs->in.fd);
    /* The last lines (a failure that stopped the run early leaves some);
     * a write cut short by the signal that ended the run is no failure. */
    if (run_out && !rs->out_said && output_flush(run_out) &&
        !rs->by_signal && output_error(run_out) != EINTR)
        status = output_failed();
    output_close(run_out);
    run_out = NULL;
    return status;
}

int run_command(int argc, char **argv)
{
    run_state rs;
    int status, fn = -1;
    memset(&rs, 0, sizeof rs);
    if ((status = options_parse(&rs.o, argc, argv)) >= 0)
        return status;
    if (rs.o.sources < argc)
        sources_parse(argc, argv, rs.o.sources, &rs.args, rs.o.max_line);
    if ((status = mpi_role(&rs.o.pool)) >= 0 ||
        (status = open_input(&rs)) != 0)
        return status;
    if (!(status = open_records(&rs)) && !(status = start_pool(&rs, &fn)) &&
        !(status = start_job(&rs, fn))) {
        collect(&rs);
        status = finish(&rs);
    }
    return run_end(&rs, status);
}
