/*
 * input.h - part of the dlpool command (framework/cli/main.c): a task's
 * arguments from text, a line of JSON Lines input or a token of a :::
 * source, checked against the function's signature.
 *
 * Nothing here reads, writes or exits: the text comes from the caller and
 * every problem becomes the task's message (dlp_args_fail), so the fuzz
 * target tests/fuzz/fuzz_input.c runs the very code the command runs.
 */
#ifndef DLPOOL_CLI_INPUT_H
#define DLPOOL_CLI_INPUT_H

#include <stddef.h>

#include "dlpool.h"

/* Line line[0, n) (no newline) as the arguments of a function of
 * signature sig; array_arg is set when the function has one argument, of
 * an array type.  A line that does not fit marks the task bad with a
 * message (not naming the line: the caller knows which it is).  Returns
 * 1, the iterator's "a task". */
int input_line_args(const dlp_sig *sig, int array_arg, const char *line,
                    size_t n, dlp_args *a);

/* One token of a ::: source, tok[0, len), as argument k (from 1): JSON
 * when it is JSON, else the text itself.  Returns as dlp_args_*. */
int input_token_arg(dlp_args *a, unsigned k, const char *tok, size_t len);

/* The shortest text of a finite double that reads back to the same value
 * (as a float when is_f32), always with a '.' or an exponent.  buf has 32
 * bytes. */
void input_fmt_double(char *buf, double d, int is_f32);

#endif
