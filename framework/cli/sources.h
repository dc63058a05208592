/*
 * sources.h - part of the dlpool command (framework/cli/main.c): the
 * tasks of a run given on the command line, GNU parallel's input sources:
 * "::: A B C" lists arguments, ":::: FILE" reads one argument per line.
 *
 * Source k fills argument k of the function, and every combination is one
 * task, the first source varying slowest: "::: 1 2 ::: a b" runs [1,a],
 * [1,b], [2,a], [2,b].  Task i's combination is computed from i (its
 * digits in the mixed radix of the source sizes), so the product is never
 * held in memory.
 */
#ifndef DLPOOL_CLI_SOURCES_H
#define DLPOOL_CLI_SOURCES_H

#include <stddef.h>
#include <stdint.h>

#include "dlpool.h"
#include "reader.h"

typedef struct argsrc {
    const char *file; /* ":::: FILE"; NULL for "::: ..." */
    char **tok;       /* the arguments, NUL-terminated */
    size_t *len;
    size_t n;
    char *text; /* a file's contents, which tok points into */
} argsrc;

typedef struct arglist {
    argsrc *src;
    unsigned nsrc;
    uint64_t total; /* tasks: the product of the source sizes */
    reader *in;     /* its stop flag (--halt soon) and records */
    uint64_t next;  /* with --checkpoint: the next combination to read */
} arglist;

/* Whether s is ::: or ::::, the start of a source. */
int sources_is_mark(const char *s);

/* The sources in argv[i, argc), which starts with ::: or ::::; a :::: FILE
 * is read whole now, each line at most max_line bytes.  A usage or set-up
 * error ends the command (say.h). */
void sources_parse(int argc, char **argv, int i, arglist *al,
                   size_t max_line);

void sources_free(arglist *al);

/* The job's iterator (dlp_iter_fn) over the combinations; ud is the
 * arglist. */
int sources_next_task(void *ud, uint64_t index, dlp_args *a);

/* Where task index came from, for messages: "line 8" when al is NULL (the
 * tasks are lines of input), else its arguments "::: 2 b".  Returns buf. */
const char *sources_where(const arglist *al, uint64_t index, char *buf,
                          size_t size);

/*
 * The message of a task whose argument did not fit, as the user should
 * read it: the library says "argument K (T): ..." of the function, and
 * argument K is a token of source K, which the message names instead:
 * "::: source 2, argument 3 'abc' (i64): expected an integer, got a
 * string".  A new string (NULL when out of memory).
 */
char *sources_arg_error(const arglist *al, uint64_t index, const char *msg);

#endif
