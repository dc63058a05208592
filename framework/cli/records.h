/*
 * records.h - part of the dlpool command (framework/cli/main.c): what
 * the command keeps of each task besides its output line.
 *
 *   --records          each output line says its task's index:
 *                      {"index":i,"value":V} or {"index":i,"error":{...}}
 *   --checkpoint FILE  every finished task's output line, appended to FILE
 *                      as it finishes; a rerun with the same FILE skips the
 *                      input lines already in it and writes their stored
 *                      lines in their place
 *   --joblog FILE      one tab-separated row per task, as GNU parallel's
 *   --trace FILE       a Chrome Trace Event timeline: a row per worker, a
 *                      span per task, a marker per crash or timeout
 *
 * Here each result's line is routed: into the checkpoint (checkpoint.c),
 * the job log (joblog.c) and the trace (trace.c), and out, at once or
 * held for its turn (order.c).  The lines themselves, --records' form
 * included, are made by results.c.
 *
 * The command calls, in order: rec_open (before the pool starts: a
 * checkpoint of another run is refused there), rec_start (once the
 * function is resolved), rec_line for every input line its iterator reads
 * and rec_input_end at the end of the input, rec_begin / rec_end around
 * the writing of each result, rec_wait / rec_idle around each wait for a
 * result, and rec_finish, then rec_close, whichever way the run ends.
 *
 * Task indexes: the pool numbers tasks in the order the iterator made
 * them; a rerun with a checkpoint skips lines, so rec_begin turns the
 * pool's index into the input's (the line number less one), which is the
 * index every message, record, row and event shows.
 */
#ifndef DLPOOL_CLI_RECORDS_H
#define DLPOOL_CLI_RECORDS_H

#include <stdint.h>
#include <stdio.h>

#include "dlpool.h"

typedef struct rec rec;

/* A task whose line was in the checkpoint: its stored line has just been
 * written; kind and message (NULL for a success) are what it ended with,
 * so that the command counts it and reports it as it did the first time. */
typedef void (*rec_stored_fn)(void *ud, uint64_t index, dlp_fail_kind kind,
                              const char *msg);

typedef struct rec_config {
    int records;   /* --records */
    int unordered; /* --unordered */
    const char *checkpoint, *joblog, *trace; /* the files, or NULL */
    /* What the checkpoint's fingerprint is made of. */
    const char *ref;        /* PLUGIN:FUNCTION */
    const char *sig;        /* --sig, or NULL */
    const char *input_name; /* the input file as given, or a description */
    int input_fd;           /* its descriptor, -1 for none */
    FILE *out;              /* where output lines go (standard output) */
    /* --halt now,fail=N: N (0: never); no line is written after the
     * line of the Nth failed task. */
    uint64_t halt_now_after;
    rec_stored_fn stored;
    void *stored_ud;
} rec_config;

/*
 * Open the files (an existing checkpoint is read and checked against this
 * run).  0, or -1 with the message in msg (one line naming the file).
 */
int rec_open(rec **out, const rec_config *cfg, char *msg, size_t size);

/* The job flags the records need: DLP_JOB_TIMES for a job log or a trace,
 * DLP_JOB_UNORDERED when results are put in order here (so that each is
 * kept as soon as it finishes, not when the ones before it have). */
unsigned rec_job_flags(const rec *r);

/* The run starts: a new checkpoint gets its header.  0, or -1 (see
 * rec_error). */
int rec_start(rec *r);

/*
 * The iterator read input line index + 1, text[0, len) (no newline), as
 * task pool_index: 0 to run it, 1 to skip it (its stored line is in the
 * checkpoint and is written in its place), or -1 to stop the run (the
 * checkpoint was written for other input; see rec_error).
 */
int rec_line(rec *r, uint64_t pool_index, const char *text, size_t len);

/* As rec_line, for a line of which only its hash was kept (a line too
 * long to be held, read past in pieces): the hash rec_line takes of a
 * line, fingerprint_hash from FINGERPRINT_HASH_START. */
int rec_line_hash(rec *r, uint64_t pool_index, uint64_t hash);

/* The input has ended: 0, or -1 when the checkpoint holds lines past it. */
int rec_input_end(rec *r);

/* Whether lines are checked against a checkpoint (and may be skipped):
 * an iterator that makes its tasks without reading lines calls
 * rec_line only then. */
int rec_skips(const rec *r);

/* Input lines read so far (the next line is this plus one). */
uint64_t rec_lines(const rec *r);

/* Before writing a result: res->index becomes the input's index, and the
 * stream to write its line to is returned. */
FILE *rec_begin(rec *r, dlp_result *res);

/* The line being written is a failure (the result's or, for a result that
 * cannot be written, a new one): kind and message. */
void rec_note_failure(rec *r, dlp_fail_kind kind, const char *msg);

/* The line is written: keep it, put it in order, log it.  0, or -1 when a
 * file cannot be written (see rec_error). */
int rec_end(rec *r, const dlp_result *res);

/* Whether output lines carry their index (--records). */
int rec_records(const rec *r);

/* Lines of tasks run by this run written to the output so far, and failed
 * tasks whose lines were written (stored ones included). */
uint64_t rec_written(const rec *r);
uint64_t rec_failures(const rec *r);

/* Lines written to the output so far, stored ones included, of tasks that
 * ended with kind (DLP_FAIL_NONE: succeeded).  A line held for its turn
 * and never written (--halt now, an interruption) is not counted. */
uint64_t rec_lines_of(const rec *r, dlp_fail_kind kind);

/* How long the command may wait for the next result: 0 while something
 * waits to be flushed (so that the wait is only a look), else -1 (no
 * limit).  When a wait of 0 finds nothing, call rec_idle, which flushes. */
double rec_wait(const rec *r);
void rec_idle(rec *r);

/* The run ends: with write_rest, write the lines that can now be written
 * in order (not after --halt now); flush everything, close the trace's
 * JSON.  0, or -1 (see rec_error). */
int rec_finish(rec *r, int write_rest);

/* What went wrong, or NULL. */
const char *rec_error(const rec *r);

/* A note for standard error about the checkpoint (a damaged last record
 * was cut off), or NULL. */
const char *rec_note(const rec *r);

/* Close the files and free everything.  Accepts NULL. */
void rec_close(rec *r);

#endif
