/*
 * mpi_api - the C API's side of tests/mpi.sh, run under mpirun -n 2:
 * rank 1 is an agent whose own pool cannot be made (its initializer does
 * not exist), rank 0 makes an MPI pool and resolves PLUGIN:add on it.
 * Rank 0 prints the error it got and exits with 0 when it is the agent's
 * reason, 1 otherwise; the agent exits with 0 once rank 0's pool is gone.
 *
 * Usage: mpi_api PLUGIN
 */
#include <stdio.h>
#include <string.h>

#include <dlpool.h>

int main(int argc, char **argv)
{
    dlp_pool_options o;
    dlp_error err = {0, ""};
    dlp_pool *p;
    char ref[4096];
    int rank, size, fn;

    if (argc != 2 || !dlp_mpi_launched(&rank, &size) || size != 2) {
        fprintf(stderr, "usage: mpirun -n 2 mpi_api PLUGIN\n");
        return 2;
    }
    dlp_pool_options_init(&o);
    o.workers = 1;
    if (rank > 0) {
        snprintf(ref, sizeof ref, "%s:no_such_init", argv[1]);
        o.initializer = ref;
        if (dlp_mpi_agent(&o, &err)) {
            fprintf(stderr, "mpi_api: rank %d: %s\n", rank, err.msg);
            return 1;
        }
        return 0;
    }
    o.transport = DLP_TRANSPORT_MPI;
    if (dlp_pool_create(&p, &o, &err)) {
        fprintf(stderr, "mpi_api: pool: %s\n", err.msg);
        return 1;
    }
    snprintf(ref, sizeof ref, "%s:add", argv[1]);
    fn = dlp_pool_fn(p, ref, NULL, &err);
    printf("%d %s\n", fn, fn < 0 ? err.msg : "");
    dlp_pool_destroy(p);
    return fn < 0 && strstr(err.msg, "the agent could not start its workers") &&
                   strstr(err.msg, "no_such_init")
               ? 0
               : 1;
}
