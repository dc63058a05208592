/*
 * transport.c - dlp_pool_create: the pool's transport chooses how it is
 * made (local workers, pool.c; links to MPI ranks, mpi_pool.c).  Above both,
 * so that neither calls the other.
 */
#include "config.h"

#include "mpi_pool.h"
#include "pool.h"
#include "transport.h"

DLP_API int dlp_pool_create(dlp_pool **out, const dlp_pool_options *opts,
                            dlp_error *err)
{
    dlp_pool_options def;

    if (!out)
        return dlp__err(err, DLP_EINVAL, "dlp_pool_create: out is NULL");
    *out = NULL;
    if (!opts) {
        dlp_pool_options_init(&def);
        opts = &def;
    }
    switch (opts->transport) {
    case DLP_TRANSPORT_LOCAL:
        return dlp__pool_create_local(out, opts, err);
    case DLP_TRANSPORT_MPI:
        return dlp__mpi_pool_create(out, opts, err);
    }
    return dlp__err(err, DLP_EINVAL, "unknown transport %u", opts->transport);
}
