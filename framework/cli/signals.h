/*
 * signals.h - part of the dlpool command (framework/cli/main.c): the
 * signals it acts on.  SIGINT and SIGTERM are recorded and interrupt the
 * run's pool, so that the run stops, hands out what has finished and says
 * what was not run; a second one ends the command at once, as the signal
 * would.  SIGPIPE is ignored: a closed output is seen as EPIPE from write.
 */
#ifndef DLPOOL_CLI_SIGNALS_H
#define DLPOOL_CLI_SIGNALS_H

#include <signal.h>

#include "dlpool.h"

/* Install the handlers (no SA_RESTART: see signals.c). */
void signals_catch(void);

/* The pool a signal interrupts (NULL: none); the command runs one. */
void signals_set_pool(dlp_pool *pool);

/* The signal caught (SIGINT or SIGTERM), or 0. */
int signals_caught(void);

/* The flag the handler sets, for the writers that stop on it (output.h). */
volatile sig_atomic_t *signals_flag(void);

/* Interrupt the pool if there is one: async-signal-safe (the progress
 * timer's handler calls it). */
void signals_wake_pool(void);

#endif
