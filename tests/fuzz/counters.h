/* counters.h - the coverage counters of a libFuzzer target (counters.c). */
#ifndef DLPOOL_FUZZ_COUNTERS_H
#define DLPOOL_FUZZ_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

/* The program's inline 8-bit counters: their start, and *n of them. */
uint8_t *fuzz_counters(size_t *n);

#endif
