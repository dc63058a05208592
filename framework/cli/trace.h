/*
 * trace.h - part of the dlpool command (framework/cli/main.c): --trace
 * FILE, a Chrome Trace Event timeline (chrome://tracing, Perfetto): a row
 * per worker, a span per task, a marker per crash or timeout, and a
 * marker on the "input" row for a task that never ran (its line was bad).
 */
#ifndef DLPOOL_CLI_TRACE_H
#define DLPOOL_CLI_TRACE_H

#include "dlpool.h"

typedef struct trace trace;

/* Create or truncate path and begin its JSON (the process is named
 * "dlpool run REF").  NULL with errno set when it cannot be opened. */
trace *trace_open(const char *path, const char *ref);

/* The events of a task that ended with kind and msg (a failure's). */
void trace_task(trace *t, const dlp_result *res, dlp_fail_kind kind,
                const char *msg);

/* Close the JSON: nothing more is added. */
void trace_end(trace *t);

/* Write out what is buffered: 0, or the errno of the first write that
 * failed. */
int trace_flush(trace *t);

/* Flush, close and free: 0 or an errno. */
int trace_close(trace *t);

#endif
