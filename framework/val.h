/*
 * val.h - the wire form of structured values (framework/val.c).
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

#endif
