/*
 * fn.h - the pool's function registry (fn.c); dlp_pool_fn is public.
 */
#ifndef DLPOOL_FRAMEWORK_FN_H
#define DLPOOL_FRAMEWORK_FN_H

#include "batch.h"
#include "pool.h"

/* A LOAD frame of function id for one worker, owned by the registry;
 * NULL if out of memory.  mu held. */
DLP_PRIV dlp__batch *dlp__fn_load_batch(dlp_pool *p, uint32_t id);

#endif
