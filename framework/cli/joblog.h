/*
 * joblog.h - part of the dlpool command (framework/cli/main.c): --joblog
 * FILE, one tab-separated row per task, as GNU parallel's: its index, the
 * worker's process ID, when it started and how long it ran (seconds), its
 * attempts, how it ended ("ok" or the failure kind) and the message.
 */
#ifndef DLPOOL_CLI_JOBLOG_H
#define DLPOOL_CLI_JOBLOG_H

#include "dlpool.h"
#include "wfile.h"

/* The header row, first in a new job log. */
void joblog_header(wfile *f);

/* The row of a task that ended with kind and msg (a failure's). */
void joblog_row(wfile *f, const dlp_result *res, dlp_fail_kind kind,
                const char *msg);

#endif
