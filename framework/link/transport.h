/*
 * transport.h - links: a pool's worker slots whose far end is not a
 * forked worker but an agent running a pool of its own, reached through a
 * descriptor (a socketpair to a bridge that carries the frames to another
 * machine, framework/mpi_pool.c; or, in tests, straight to an agent
 * process), and how a pool chooses its transport (transport.c).
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

/* A pool of links is made by dlp__pool_create_links (pool.h); the agent
 * is agent.h; the MPI transport that carries links between ranks is
 * mpi_pool.h, and dlp_pool_create (transport.c) picks the transport. */

#endif
