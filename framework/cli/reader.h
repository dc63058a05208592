/*
 * reader.h - part of the dlpool command (framework/cli/main.c): the tasks
 * of a run read from its input (a file or standard input), one JSON line
 * each, as the job's iterator.
 *
 * The input is read in blocks straight from its descriptor: the reader
 * can tell whether a whole line is at hand without blocking, so a task
 * from a slow pipe is sent at once instead of waiting for a full batch.
 * Every line read is shown to the records (records.h), which may skip it
 * (its result is in the checkpoint).
 */
#ifndef DLPOOL_CLI_READER_H
#define DLPOOL_CLI_READER_H

#include <stddef.h>
#include <stdint.h>

#include "dlpool.h"
#include "output.h"
#include "progress.h"
#include "records.h"

typedef struct reader {
    int fd;
    const char *name;
    char *buf;
    size_t cap, start, end; /* unread bytes are buf[start, end) */
    size_t clean;           /* buf[start, start + clean) has no newline */
    int eof;
    const dlp_sig *sig;
    int array_arg; /* the function has one argument, of an array type */
    int io_errno;
    int paused; /* the input has made us wait: do not hold results back */
    int stop;   /* read no more (--halt soon) */
    rec *rec;   /* records.c: sees every line read */
    output *out; /* the results, written out when the input pauses */
    /* --max-line-length: a longer line is read past, not held (never
     * more than this and a block are in memory), and fails alone. */
    size_t max_line;
    uint64_t skipped;   /* bytes of the current line read past so far */
    uint64_t skip_hash; /* their hash, for the checkpoint (records.c) */
    uint64_t long_len;  /* the line just read was over max_line: its
                           length; 0 otherwise */
} reader;

/* The default --max-line-length: the largest frame, in which a task's
 * arguments travel (a line longer than that is never one task). */
#define MAX_LINE_DEFAULT ((size_t)1 << 30)

/* How many tasks a small regular file holds (its lines, at most), read
 * whole into the reader's buffer now (the reader takes them from there):
 * a pool needs no more workers than that, and each costs a fork.  Returns
 * 0 for anything else (a pipe, a large or growing file): unknown. */
size_t reader_small_tasks(reader *in);

/* The job's iterator (dlp_iter_fn) over the lines of the input; ud is the
 * reader. */
int reader_next_task(void *ud, uint64_t index, dlp_args *a);

/* When the input is a regular file, before any task has been read: its
 * size from where reading starts, and a function that says how far the
 * reader has got, into *size (progress.h); else *size is left alone. */
void reader_size(reader *in, progress_size *size);

#endif
