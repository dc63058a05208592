/*
 * transport.h - links: a pool's worker slots whose far end is not a
 * forked worker but an agent running a pool of its own, reached through a
 * descriptor (a socketpair to a bridge that carries the frames to another
 * machine, framework/mpi.c; or, in tests, straight to an agent process).
 *
 * Over a link go the same frames as to a worker (wire.h), with two
 * additions: BATCH frames carry the job's limits (DLP_BATCH_LIMITS), since
 * only the agent can see its tasks run, and results may come back as
 * DLP_R_LOST records, a task failed there the way it would have failed
 * here.  The pool treats a link as a worker that holds many batches at
 * once and that it can neither kill nor replace: a lost link is a lost
 * slot.
 */
#ifndef DLPOOL_FRAMEWORK_TRANSPORT_H
#define DLPOOL_FRAMEWORK_TRANSPORT_H

#include "common.h"

/* Batches a link may hold at once: enough to keep a remote pool of a few
 * dozen workers busy while results travel back. */
#define DLP_LINK_DEPTH 64u

/* Make a pool whose n worker slots are links over the descriptors fds
 * (taken over, also on failure).  Its workers option is ignored. */
DLP_PRIV int dlp__pool_create_links(dlp_pool **out, const int *fds,
                                    unsigned n,
                                    const dlp_pool_options *opts,
                                    dlp_error *err);

/* Serve one link on descriptor fd until it closes: make a local pool
 * with opts and run every batch that arrives on it (agent.c).  Returns
 * the exit status for the agent's process: 0 when the link was closed. */
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

/* The MPI transport (mpi.c): on rank 0, a pool of links to the agents
 * on every other rank; the bridge that carries them ends, and is joined,
 * when the pool is destroyed.  Without MPI built in, DLP_EINVAL. */
DLP_PRIV int dlp__mpi_pool_create(dlp_pool **out,
                                  const dlp_pool_options *opts,
                                  dlp_error *err);
struct dlp__bridge;
DLP_PRIV void dlp__bridge_close(struct dlp__bridge *b);

#endif
