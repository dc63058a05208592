/*
 * agent.h - the far end of a link (agent.c): serve a pool's channel the
 * way a worker does, running every batch on a pool of local workers.
 */
#ifndef DLPOOL_FRAMEWORK_AGENT_H
#define DLPOOL_FRAMEWORK_AGENT_H

#include "common.h"

/* Serve one link on descriptor fd until it closes: make a local pool
 * with opts and run every batch that arrives on it.  Returns the exit
 * status for the agent's process: 0 when the link was closed. */
DLP_PRIV int dlp__agent_main(int fd, const dlp_pool_options *opts);

/* The same with the local pool made already (taken over, destroyed at
 * the end), or NULL when it could not be, why saying why. */
DLP_PRIV int dlp__agent_serve(int fd, dlp_pool *pool, const char *why);

/* A channel with no descriptor, which the agent's own thread polls
 * between short waits: an agent rank's link to rank 0, carried by MPI in
 * that thread (mpi_module.h has what each call does). */
typedef struct dlp__chan {
    void *ctx;
    int (*peek)(void *ctx, size_t *n);
    void (*take)(void *ctx, void *p);
    int (*send)(void *ctx, const void *p, size_t n);
    int (*busy)(void *ctx);
} dlp__chan;

/* dlp__agent_serve over channel ch rather than a descriptor. */
DLP_PRIV int dlp__agent_serve_chan(const dlp__chan *ch, dlp_pool *pool,
                                   const char *why);

#endif
