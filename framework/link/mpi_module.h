/*
 * mpi_module.h - the interface between the library and its MPI module.
 *
 * Everything that calls MPI lives in a module of its own,
 * libdlpool-mpi.so (mpi_bridge.c), loaded only when a pool or an agent
 * uses the MPI transport: the library itself does not link MPI, so the
 * programs that never use it do not load it (MPI's libraries take more
 * than the rest of the program to load and map).
 */
#ifndef DLPOOL_FRAMEWORK_MPI_MODULE_H
#define DLPOOL_FRAMEWORK_MPI_MODULE_H

#include <stddef.h>

#define DLP_MPI_MODULE_ABI 3u
#define DLP_MPI_MODULE_SYMBOL "dlp_mpi_module"

/* MPI has no descriptor to sleep on: a loop waiting for it (a bridge's,
 * or an agent's on its channel) naps from DLP_MPI_NAP_MIN ns, doubling to
 * DLP_MPI_NAP_MAX while nothing comes, and at most DLP_MPI_NAP_SENDING
 * while a send is in flight, whose end nothing else signals
 * (DESIGN-NOTES.md, "Links, agents and MPI"). */
#define DLP_MPI_NAP_MIN 20000L
#define DLP_MPI_NAP_MAX 1000000L
#define DLP_MPI_NAP_SENDING 100000L

typedef struct dlp_mpi_module {
    unsigned abi; /* DLP_MPI_MODULE_ABI */
    /*
     * Start a bridge: a thread that carries the bytes of n links between
     * descriptors and MPI messages to ranks[i] (starting MPI if it is not
     * yet; then MPI is finalized when the bridge ends); fds receives our
     * ends of its socketpairs.  Returns 0 and *bridge, or a negative
     * errno or dlpool code with msg set.
     */
    int (*open)(void **bridge, const int *ranks, unsigned n, int *fds,
                char *msg, size_t size);
    /* Wait for the bridge to end (every link closed on both sides), then
     * free it. */
    void (*close)(void *bridge);
    /* Rank and size in MPI_COMM_WORLD, if MPI is initialised: 1, else 0. */
    int (*world)(int *rank, int *size);
    /*
     * A channel: one link to rank peer carried by the calling thread
     * itself, with no thread or descriptor of the module's (an agent
     * rank's, driven from the agent's loop).  open starts MPI as a
     * bridge does; returns 0 and *chan, or a negative errno or dlpool
     * code with msg set.
     */
    int (*chan_open)(void **chan, int peer, char *msg, size_t size);
    /* 1 with *n when a message of n bytes from the peer waits (again
     * until it is taken), 2 once the peer has closed, 0 when neither. */
    int (*chan_peek)(void *chan, size_t *n);
    /* Receive the waiting message into p, which holds its n bytes. */
    void (*chan_take)(void *chan, void *p);
    /* Start sending n bytes at p, which stay untouched until chan_busy
     * says 0; one send at a time (-EINVAL otherwise). */
    int (*chan_send)(void *chan, const void *p, size_t n);
    /* 1 while a send is in flight (and moves it on), else 0. */
    int (*chan_busy)(void *chan);
    /* Finish the send in flight, close our side, take (and drop) what the
     * peer sends until it closes too, end MPI if open started it, and
     * free the channel. */
    void (*chan_close)(void *chan);
} dlp_mpi_module;

#endif
