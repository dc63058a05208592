/*
 * forkserver.h - a fork server: a process that forks workers on request.
 */
#ifndef DLPOOL_FRAMEWORK_FORKSERVER_H
#define DLPOOL_FRAMEWORK_FORKSERVER_H

#include <sys/types.h>

#include "common.h"
#include "worker.h"

/*
 * A fork server forks workers for a process that may no longer fork
 * itself (an MPI rank once MPI is up).  Start it after the pool whose scoreboard entries spawn will name
 * is made (it must share that memory), and before the process may no
 * longer fork.  The workers are the server's children: reap them with
 * dlp__fsrv_reap (dlp__reap's grace and answer), never waitpid.  Stopping
 * it kills and reaps the workers it still has.
 */
typedef struct dlp__fsrv dlp__fsrv;
DLP_PRIV int dlp__fsrv_start(dlp__fsrv **out, dlp_error *err);
DLP_PRIV int dlp__fsrv_spawn(dlp__fsrv *s, pid_t *pid, int *fd,
                             dlp__score *score, const dlp__wopts *opts,
                             dlp_error *err);
DLP_PRIV int dlp__fsrv_reap(dlp__fsrv *s, pid_t pid, int grace_ms);
DLP_PRIV void dlp__fsrv_stop(dlp__fsrv *s);

#endif
