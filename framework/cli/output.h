/*
 * output.h - part of the dlpool command (framework/cli/main.c): the
 * writer of its results, over a descriptor (standard output).
 *
 * Results are formatted into a stdio stream (output_stream: stdio keeps
 * the buffer) whose bytes are written by this writer with write(2), not
 * by stdio's own file code:
 *   - the error of a failed write is kept: only EPIPE means that the
 *     reader went away; any other (ENOSPC, EIO, EBADF) is reported;
 *   - a non-blocking descriptor that is full (EAGAIN) is waited on with
 *     poll until it drains: no line is dropped;
 *   - a signal the command acts on ends a write blocked by a reader that
 *     does not read (the stop flag is the command's record of the signal):
 *     it goes on while the reader makes room, so that lines stay whole,
 *     and gives up when the reader makes none for 2 seconds;
 *   - a worker forked while lines wait in the buffer has a copy of them;
 *     should it flush its streams, they are dropped, not written twice.
 */
#ifndef DLPOOL_CLI_OUTPUT_H
#define DLPOOL_CLI_OUTPUT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct output output;

/* A writer over fd, named name in messages ("standard output"); with
 * direct, every write goes out at once (standard error).  stop may be
 * NULL.  NULL when out of memory. */
output *output_open(int fd, const char *name, volatile sig_atomic_t *stop,
                    int direct);

/* The stream that writes into o. */
FILE *output_stream(output *o);

/* Append n bytes; written once the buffer is full.  0, or -1 once the
 * output has failed (see output_error): nothing more is written. */
int output_write(output *o, const void *p, size_t n);

/* Write what the buffer holds.  0 or -1. */
int output_flush(output *o);

/* 0, or the errno of the write that failed; EINTR when a signal (the stop
 * flag set) cut a write short. */
int output_error(const output *o);

/* Lines given to the writer that never reached the descriptor whole (it
 * failed, or a signal cut the write short). */
uint64_t output_lost(const output *o);

const char *output_name(const output *o);

/* Free the writer without flushing it; the descriptor stays open.
 * Accepts NULL. */
void output_close(output *o);

/* Write all of p[0, n) to fd: EINTR retried, EAGAIN waited out with poll.
 * Once *stop is set (stop may be NULL), a reader that makes no room for 2
 * seconds is given up: -EINTR.  0 or -errno. */
int output_write_all(int fd, const void *p, size_t n,
                     volatile sig_atomic_t *stop);

#endif
