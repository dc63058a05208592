/*
 * signals.c - part of the dlpool command (framework/cli/main.c): the
 * signals it acts on.  See signals.h.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "dlpool.h"
#include "signals.h"

/* The pool the signal handler interrupts; the command runs one. */
static dlp_pool *volatile sig_pool;
static volatile sig_atomic_t sig_caught;

static void on_signal(int sig)
{
    if (sig_caught) {
        /* A second signal: leave at once, as the signal would. */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    sig_caught = sig;
    if (sig_pool)
        dlp_pool_interrupt(sig_pool);
}

void signals_catch(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    /* No SA_RESTART: a write of results blocked by a reader that does
     * not read must end (once sig_caught is set, output.c writes only
     * while the reader makes room; every other call here is retried on
     * EINTR); waiting in the pool is cut short by dlp_pool_interrupt. */
    sa.sa_flags = 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A closed output is seen as EPIPE from write, not as a signal. */
    signal(SIGPIPE, SIG_IGN);
}

void signals_set_pool(dlp_pool *pool)
{
    sig_pool = pool;
}

int signals_caught(void)
{
    return sig_caught;
}

volatile sig_atomic_t *signals_flag(void)
{
    return &sig_caught;
}

/* Called from the progress timer's signal handler. */
void signals_wake_pool(void)
{
    dlp_pool *p = sig_pool;
    if (p)
        dlp_pool_interrupt(p);
}
