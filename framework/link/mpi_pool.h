/*
 * mpi_pool.h - the MPI transport, library side (mpi_pool.c); not
 * <mpi.h>, which only the MPI module (mpi_bridge.c) includes.
 */
#ifndef DLPOOL_FRAMEWORK_MPI_POOL_H
#define DLPOOL_FRAMEWORK_MPI_POOL_H

#include "common.h"

/* On rank 0, a pool of links (transport.h) to the agents on every other
 * rank; the bridge that carries them ends, and is joined, when the pool
 * is freed.  Without MPI built in, DLP_EINVAL. */
DLP_PRIV int dlp__mpi_pool_create(dlp_pool **out,
                                  const dlp_pool_options *opts,
                                  dlp_error *err);

#endif
