/*
 * results.h - part of the dlpool command (framework/cli/main.c): each
 * result of a run as its output line, JSON, through the records
 * (records.h), which turn the pool's index into the input's and may keep
 * the line in the checkpoint, hold it for its turn and log the task; and
 * each failed task said on standard error, naming where it came from.
 */
#ifndef DLPOOL_CLI_RESULTS_H
#define DLPOOL_CLI_RESULTS_H

#include <stdint.h>

#include "dlpool.h"
#include "records.h"
#include "sources.h"

/* Tasks by how they ended. */
typedef struct counts {
    uint64_t ok, failed;
    uint64_t by_kind[DLP_FAIL_TIMEOUT + 1];
} counts;

typedef struct results {
    rec *rec;            /* the run's records: --records, --checkpoint... */
    const arglist *args; /* the ::: sources, or NULL: lines of input */
    counts n;            /* the lines written so far */
} results;

/* Write result r's line: its value, or its error (also said on standard
 * error).  A result that cannot be written (text that is not UTF-8) fails
 * its task.  0, or -1 when a file of the records cannot be written (see
 * rec_error). */
int results_write(results *w, dlp_result *r);

/* A task whose line came from the checkpoint (rec_stored_fn; ud is the
 * results): counted, and its failure reported, as when it ran. */
void results_stored(void *ud, uint64_t index, dlp_fail_kind kind,
                    const char *msg);

#endif
