/*
 * handle.h - the registry of live handles: the pools, jobs and futures
 * this process has made and not yet destroyed.
 *
 * A handle the registry does not hold was destroyed (or never made), so
 * its memory must not be read: the public calls look a handle up before
 * they touch it, and refuse (DLP_EINVAL) or ignore (the destroys) one
 * that is not live.  This catches a destroy repeated, or a call after a
 * destroy, as long as no new handle has been given the same address in
 * between; it cannot make a call that races with the destroy of its
 * handle safe.
 */
#ifndef DLPOOL_FRAMEWORK_HANDLE_H
#define DLPOOL_FRAMEWORK_HANDLE_H

#include "common.h"

enum { DLP__H_POOL = 1, DLP__H_JOB, DLP__H_FUTURE };

/* Record h as a live handle of kind: 0, or -ENOMEM. */
DLP_PRIV int dlp__handle_add(const void *h, int kind);
/* Whether h is a live handle of kind. */
DLP_PRIV int dlp__handle_live(const void *h, int kind);
/* Forget h: 1 if it was a live handle of kind, else 0 (and nothing
 * changes). */
DLP_PRIV int dlp__handle_drop(const void *h, int kind);
/* If h is a live handle of kind, call take(h) (unless take is NULL)
 * before anyone can destroy it, and return 1; else 0.  take runs under
 * the registry's lock: it may not take a lock or call into the registry
 * (an atomic increment of a count in *h is what it is for). */
DLP_PRIV int dlp__handle_take(const void *h, int kind, void (*take)(void *));
/* The error of a call given a handle that is not live: DLP_EINVAL, and
 * err says "CALL: no such WHAT (destroyed, or never made)". */
DLP_PRIV int dlp__handle_bad(dlp_error *err, const char *call,
                             const char *what);

#endif
