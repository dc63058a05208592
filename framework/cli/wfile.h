/*
 * wfile.h - part of the dlpool command (framework/cli/main.c): a file
 * written through a buffer of our own with write(2), for the job log and
 * the trace.
 *
 * Not through stdio: the pool forks workers while the run goes on, a
 * forked worker has a copy of every stdio stream with its unwritten data,
 * and a plugin that calls exit() flushes those copies into whatever
 * descriptor has the stream's number in the worker (its channel to the
 * pool, when the number is 3).
 */
#ifndef DLPOOL_CLI_WFILE_H
#define DLPOOL_CLI_WFILE_H

#include <stddef.h>

typedef struct wfile wfile;

/* Create or truncate path.  NULL with errno set when it cannot be opened
 * (or out of memory). */
wfile *wfile_open(const char *path);

/* Append bytes; the buffer is written out when it is full.  A write
 * error is kept (see wfile_flush) and nothing more is written. */
void wfile_put(wfile *f, const char *p, size_t n);
void wfile_puts(wfile *f, const char *s);
void wfile_putc(wfile *f, char c);
void wfile_printf(wfile *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* s[0, len) as a JSON string (text_json). */
void wfile_str(wfile *f, const char *s, size_t len);

/* Write out the buffer: 0, or the errno of the first write that failed. */
int wfile_flush(wfile *f);

/* Flush and close: 0 or an errno. */
int wfile_close(wfile *f);

#endif
