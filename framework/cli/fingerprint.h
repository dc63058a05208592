/*
 * fingerprint.h - part of the dlpool command (framework/cli/main.c): what
 * identifies a run for its checkpoint, so that a rerun reuses only results
 * that are this run's: the function, the plugin file (its size and FNV-1a
 * 64 hash), --sig, --records and the input (its name, a regular file's
 * size), as one line of JSON; and the hash of each input line.
 */
#ifndef DLPOOL_CLI_FINGERPRINT_H
#define DLPOOL_CLI_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "text.h"

/* FNV-1a 64, made piece by piece: start from FINGERPRINT_HASH_START and
 * add each piece in order. */
#define FINGERPRINT_HASH_START 0xcbf29ce484222325ull
uint64_t fingerprint_hash(uint64_t h, const void *p, size_t n);

/* What a fingerprint is made of. */
typedef struct fingerprint_of {
    const char *ref;        /* PLUGIN:FUNCTION */
    const char *sig;        /* --sig, or NULL */
    const char *input_name; /* the input file as given, or a description */
    int input_fd;           /* its descriptor, -1 for none */
    int records;            /* --records */
} fingerprint_of;

/* This run's fingerprint (malloc'd), or NULL: a message in err (the
 * plugin's path is not a regular file), or none when out of memory. */
char *fingerprint_make(const fingerprint_of *of, text_error *err);

/* Compare the fingerprint stored in checkpoint path (stored[0, n)) with
 * this run's (cur): 0, or -1 with a message in err that says what
 * differs. */
int fingerprint_check(const char *path, const char *stored, size_t n,
                      const char *cur, text_error *err);

#endif
