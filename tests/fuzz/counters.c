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

/* Weak: a program built without -fsanitize=fuzzer (the replay of the
 * seeds in make check) has no such section, and no counters. */
extern uint8_t __start___sancov_cntrs[] __attribute__((weak));
extern uint8_t __stop___sancov_cntrs[] __attribute__((weak));

uint8_t *fuzz_counters(size_t *n)
{
    uint8_t *start = __start___sancov_cntrs, *stop = __stop___sancov_cntrs;
    *n = start && stop ? (size_t)(stop - start) : 0;
    return start;
}
