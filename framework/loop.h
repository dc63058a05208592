/*
 * loop.h - the event loop (loop.c): one step at a time, in whichever
 * thread waits for progress, with the pool's mu held around each step.
 */
#ifndef DLPOOL_FRAMEWORK_LOOP_H
#define DLPOOL_FRAMEWORK_LOOP_H

#include "batch.h"
#include "pool.h"

/* Live workers, in slot order, into slots (room for nworkers). */
DLP_PRIV unsigned dlp__loop_live_slots(dlp_pool *p, unsigned *slots);

/* Queue frame b on worker w and try to write it now. */
DLP_PRIV void dlp__loop_send(dlp_pool *p, dlp__worker *w, dlp__batch *b);

/* The live worker with the fewest task batches outstanding, if it has
 * fewer than limit (a link: limit * DLP_LINK_DEPTH); NULL otherwise. */
DLP_PRIV dlp__worker *dlp__loop_pick(dlp_pool *p, unsigned limit);

/* Workers that are alive. */
DLP_PRIV unsigned dlp__loop_alive(dlp_pool *p);

/* One step of the event loop: poll the channels (mu released meanwhile),
 * and extra_fd too if it is not -1, read and dispatch replies, write
 * pending frames.  If another thread is driving, wait for it to finish a
 * step instead (at most 10 ms when extra_fd is given).  With nowait, only
 * what is ready now is handled.  Returns 1 if extra_fd may be readable.
 * mu is held on entry and on return. */
DLP_PRIV int dlp__loop_drive(dlp_pool *p, int extra_fd, int nowait);
/* The same, waiting no later than deadline_ns (dlp__now_ns clock; 0: no
 * deadline, 1: do not wait). */
DLP_PRIV int dlp__loop_drive_until(dlp_pool *p, int extra_fd,
                                   uint64_t deadline_ns);

/* The deadline for dlp__loop_drive_until of a timeout in seconds; a
 * negative timeout is none (0). */
DLP_PRIV uint64_t dlp__loop_deadline(double timeout);

/* Wake the thread driving the loop out of its poll (the pool's eventfd).
 * Async-signal-safe. */
DLP_PRIV void dlp__loop_wake(dlp_pool *p);

/* Stop worker w now: SIGKILL a forked worker; shut a link down (its
 * agent sees the end of the channel and stops its own workers).  Its
 * end of file does the rest. */
DLP_PRIV void dlp__loop_kill(dlp__worker *w);

#endif
