/*
 * order.h - part of the dlpool command (framework/cli/main.c): the
 * bookkeeping that puts a run's output in input order when the pool hands
 * results out as they finish (--checkpoint):
 *   - the tasks in flight, by the pool's index: the input's index (a
 *     rerun skips lines the checkpoint holds, so the two differ) and the
 *     hash of the task's line;
 *   - the lines written out of their turn, held in a min-heap by index
 *     until the lines before them are written.
 */
#ifndef DLPOOL_CLI_ORDER_H
#define DLPOOL_CLI_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "dlpool.h"

/* A task in flight: the pool's index, the input's, and its line's hash. */
typedef struct flight {
    uint64_t pool, input, hash;
} flight;

/* A line written out of its turn, held until the lines before it are:
 * at offset off of the checkpoint, or in memory (line, len). */
typedef struct held {
    uint64_t index, off;
    char *line;
    size_t len;
    dlp_fail_kind kind;
} held;

typedef struct order {
    flight *fl; /* open addressing, linear probing */
    size_t fl_cap, fl_n;
    held *heap;
    size_t heap_n, heap_cap;
} order;

/* Task pool is in flight as input line input + 1 with hash: 0, or -1 when
 * out of memory. */
int order_track(order *o, uint64_t pool, uint64_t input, uint64_t hash);

/* Find and forget task pool: 1 with its entry in *out, or 0 when it is
 * not tracked. */
int order_untrack(order *o, uint64_t pool, flight *out);

/* Hold a line: 0, or -1 when out of memory (h is not taken). */
int order_hold(order *o, held h);

/* The held line with the lowest index, or NULL when none is held. */
const held *order_first(const order *o);

/* Take the held line with the lowest index; one must be held. */
held order_take(order *o);

/* Free everything, the lines held in memory too. */
void order_free(order *o);

#endif
