/*
 * invoke.h - a resolved function's call, prepared once (a libffi cif, or
 * a direct call for the common signatures) and made for each task: the
 * arguments decoded from the task record, the result encoded after it.
 * Worker side only.
 */
#ifndef DLPOOL_FRAMEWORK_INVOKE_H
#define DLPOOL_FRAMEWORK_INVOKE_H

#include <ffi.h>

#include "dlpool/plugin.h"
#include "common.h"
#include "wire.h"

/* A function resolved in a worker, with its call interface prepared once.
 * The ffi_type arrays live here, as long as the cif. */
typedef struct dlp__fn {
    void (*addr)(void);
    dlp_sig sig;
    ffi_cif cif;
    ffi_type *ret_type;
    ffi_type *atypes[2 * DLP_MAX_ARGS]; /* bytes takes two C parameters */
    unsigned ncargs;
    /* Every argument a fixed-size scalar: decoded by size alone. */
    int fixed;
    uint32_t args_size;
    unsigned char asize[DLP_MAX_ARGS];
    /* A direct call for the most common signatures (see invoke.c), or
     * NULL: then ffi_call. */
    void (*direct)(void (*fn)(void), const void *slots, void *rv);
} dlp__fn;

/* Prepare fn->cif from fn->sig. */
DLP_PRIV int dlp__invoke_prep(dlp__fn *fn, const char *name, dlp_error *err);

/*
 * Decode one task's arguments from r, call fn, and append the result
 * record (index, kind, len, payload) to out.  Returns 0, or DLP_EPROTO if
 * the arguments were malformed (nothing appended), or -ENOMEM.
 */
DLP_PRIV int dlp__invoke(const dlp__fn *fn, uint64_t index, dlp__rd *r,
                         dlp__buf *out);

/* The host functions handed to every plugin. */
DLP_PRIV extern const dlp_host_api dlp__host_api;

#endif
