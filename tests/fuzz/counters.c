/*
 * counters.c - where the coverage counters of a libFuzzer target are, for
 * fuzz_options.c, which hands a child process's counters back to its
 * parent.  -fsanitize=fuzzer keeps them (inline 8-bit counters) in one
 * section, __sancov_cntrs, whose bounds the linker names.
 *
 * This file is built without coverage: in a file with coverage, the
 * compiler takes the section's bound symbols for its own use, and a
 * reference of ours to them makes it register an empty range instead.
 */
#include <stddef.h>
#include <stdint.h>

#include "counters.h"

extern uint8_t __start___sancov_cntrs[];
extern uint8_t __stop___sancov_cntrs[];

uint8_t *fuzz_counters(size_t *n)
{
    *n = (size_t)(__stop___sancov_cntrs - __start___sancov_cntrs);
    return __start___sancov_cntrs;
}
