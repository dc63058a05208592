/*
 * run.h - part of the dlpool command (framework/cli/main.c): `dlpool run
 * PLUGIN:FUNCTION`, from its command line to its exit status.
 *
 * Its steps, in order: the options (options.c), the ::: sources
 * (sources.c) or the input (reader.c), the writer of the results
 * (output.c) and the records (records.c), the pool and the function, the
 * job and the progress line (progress.c); then each result is written as
 * it comes (results.c) until the job ends or is stopped; then the end:
 * the rest written, what was not run said, the exit status.
 */
#ifndef DLPOOL_CLI_RUN_H
#define DLPOOL_CLI_RUN_H

/* argv[0] is "run".  Returns the command's exit status. */
int run_command(int argc, char **argv);

#endif
