/*
 * options.h - part of the dlpool command (framework/cli/main.c): the
 * command line of `dlpool run`: its options, PLUGIN:FUNCTION, and INPUT
 * or where its ::: sources start.
 */
#ifndef DLPOOL_CLI_OPTIONS_H
#define DLPOOL_CLI_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "dlpool.h"

/* --halt: GNU parallel's policies, by failure count. */
enum { HALT_NEVER, HALT_NOW, HALT_SOON };

typedef struct run_options {
    dlp_pool_options pool;
    dlp_job_options job;
    const char *ref;  /* PLUGIN:FUNCTION */
    const char *sig;  /* --sig, or NULL */
    const char *path; /* INPUT, or NULL (standard input) */
    int sources;      /* argv's index of the first ::: or ::::; argc when
                         there is none */
    int halt_when;    /* HALT_* */
    uint64_t halt_fails;
    int show_progress; /* -1: when standard error is a terminal */
    int records;       /* --records */
    const char *checkpoint, *joblog, *trace; /* the files, or NULL */
    size_t max_line;   /* --max-line-length */
} run_options;

/* Parse argv[0, argc) ("run" and its arguments) into o.  Returns -1 when
 * the run goes on, else the command's exit status (after --help, or a
 * --sig that does not parse).  A usage error ends the command
 * (die_usage). */
int options_parse(run_options *o, int argc, char **argv);

#endif
