/*
 * val.h - the wire form of structured values, and the decoding of a
 * task's whole argument list, val arguments among them (framework/val.c).
 */
#ifndef DLPOOL_FRAMEWORK_VAL_H
#define DLPOOL_FRAMEWORK_VAL_H

#include "common.h"
#include "wire.h"

/* Append the wire form of v (NULL encodes null).  Returns 0, DLP_ETOOBIG
 * (nested deeper than DLP_VAL_MAX_DEPTH, or over the frame limit: nothing
 * is appended) or -ENOMEM. */
DLP_PRIV int dlp__val_put(dlp__buf *b, const dlp_val *v);

/* Read one value; *out is new.  DLP_EPROTO for malformed input (r->bad is
 * set), -ENOMEM. */
DLP_PRIV int dlp__val_get(dlp__rd *r, dlp_val **out);

/* What decoding a task's arguments allocated: val trees, and arrays that
 * arrived misaligned and were copied.  Released after the call. */
typedef struct dlp__argmem {
    unsigned n;
    unsigned char val[DLP_MAX_ARGS];
    void *p[DLP_MAX_ARGS];
} dlp__argmem;

DLP_PRIV void dlp__argmem_release(dlp__argmem *m);

/* Decode a whole argument list of signature sig (as a worker does before
 * a call), into slots; DLP_EPROTO unless it is exactly one valid list,
 * -ENOMEM.  On success the caller releases mem after the call; on failure
 * it is released already. */
DLP_PRIV int dlp__args_decode(dlp__rd *r, const dlp_sig *sig,
                              dlp__slot *slots, dlp__argmem *mem);

#endif
