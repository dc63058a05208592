/*
 * say.h - part of the dlpool command (framework/cli/main.c): its own
 * words on its standard streams: the usage text, messages on standard
 * error, the set-up errors that end it, and its exit statuses.
 *
 * A message may carry a plugin's words or a file's name, so its control
 * characters are escaped (text.h) rather than obeyed by a terminal.
 */
#ifndef DLPOOL_CLI_SAY_H
#define DLPOOL_CLI_SAY_H

#include <stdio.h>

/* The command's name, which begins each of its messages. */
#define PROG "dlpool"

/* Exit statuses besides 0 and 128 + a signal. */
#define EXIT_TASKS_FAILED 1
#define EXIT_SETUP 2

/* "dlpool: WHAT: MSG" (what may be NULL: "dlpool: MSG") on standard
 * error, msg escaped. */
void say2(const char *what, const char *msg);
void say(const char *msg);

/* The usage text (--help), on to. */
void usage(FILE *to);

/* A usage error: the message, a pointer to --help, and status 2. */
void die_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* A set-up error before the pool starts: the message, and status 2. */
void die_setup(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* The end of a command that wrote to standard output through stdio: 0,
 * or (a closed output, a full disk) a message and status 2. */
int stdout_written(void);

#endif
