/*
 * args.h - argument lists (args.c): what a dlp_args is while an iterator
 * fills it, and lists encoded in advance.
 */
#ifndef DLPOOL_FRAMEWORK_ARGS_H
#define DLPOOL_FRAMEWORK_ARGS_H

#include "common.h"
#include "wire.h"

/* One task's arguments being encoded: appended to b by signature sig,
 * argi of them so far.  The first mistake sets bad and msg; every call
 * after it does nothing. */
struct dlp_args {
    const dlp_sig *sig;
    dlp__buf *b;
    unsigned argi;
    int bad;
    char msg[384];
};

/* Mark a bad (unless it is already), with the message.  DLP_EINVAL. */
DLP_PRIV int dlp__args_bad(dlp_args *a, const char *fmt, ...) DLP_FMT(2, 3);

/* Tasks encoded in advance (a future's): task i is the len bytes at off in
 * bytes, or bad input with the message bad[i]. */
typedef struct dlp__pre {
    size_t n;
    dlp__buf bytes;
    struct dlp__pre_task {
        size_t off, len;
        unsigned attempts; /* made before, elsewhere (retries used) */
    } *task;
    char **bad; /* NULL when no task is bad */
} dlp__pre;

/* Encode n argument lists for signature sig.  With same, only tuples[0]
 * is encoded and every task uses it (a broadcast).  A list that does not
 * fit the signature makes its task bad input, not an error.  Returns 0 or
 * -ENOMEM. */
DLP_PRIV int dlp__pre_encode(dlp__pre *pre, const dlp_sig *sig,
                             const dlp_val *const *tuples, size_t n,
                             int same);
DLP_PRIV void dlp__pre_free(dlp__pre *pre);

#endif
