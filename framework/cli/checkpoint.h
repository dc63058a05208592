/*
 * checkpoint.h - part of the dlpool command (framework/cli/main.c): the
 * --checkpoint file (its format: ckformat.h), opened, checked against
 * this run, appended to as tasks finish, and read back on a rerun.
 *
 * Every finished task's output line is appended as it finishes; a rerun
 * with the same file checks each input line against the stored task of
 * the same index (its hash) and writes the stored line in its place.  A
 * run killed while appending leaves at most its last record cut short:
 * its length or checksum does not hold and nothing valid follows it, so it
 * is cut off before the rerun appends.  A record that fails its checksum
 * with valid records after it is damage, and is refused, as is a record
 * whose checksum holds but whose content is not what the command writes.
 * A rerun keeps in memory 16 bytes per stored task (its index and where
 * its record is) and reads each stored line back from the file when it
 * writes it.
 */
#ifndef DLPOOL_CLI_CHECKPOINT_H
#define DLPOOL_CLI_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "dlpool.h"
#include "fingerprint.h"
#include "text.h"

typedef struct ckpt ckpt;

/* Open (or create) the checkpoint at path, locked for this run, and read
 * what it holds, checked against this run's fingerprint (of).  0, or -1
 * with the message in err.  *out is set either way (ckpt_close it). */
int ckpt_open(ckpt **out, const char *path, const fingerprint_of *of,
              text_error *err);

/* The run starts: a new checkpoint gets its header.  0 or -1. */
int ckpt_start(ckpt *ck);

/* Input line index + 1 was read, of hash h: 1 when the checkpoint holds
 * its task (the hashes agree: its stored line is to be written in its
 * place, see ckpt_ready), 0 when not, -1 when the line differs from the
 * stored one or the file cannot be read. */
int ckpt_check_line(ckpt *ck, uint64_t index, uint64_t h);

/* The input has ended after lines lines: 0, or -1 when the checkpoint
 * holds tasks past it. */
int ckpt_input_end(ckpt *ck, uint64_t lines);

/* Whether the next stored task to be written has had its input line
 * checked: 1 with its index in *index (index may be NULL), else 0. */
int ckpt_ready(const ckpt *ck, uint64_t *index);

/* Read that task back, and move on to the next: its index, how it ended,
 * its message (malloc'd; NULL for a success or none stored) and output
 * line (valid until the next read).  0 or -1. */
int ckpt_take(ckpt *ck, uint64_t *index, dlp_fail_kind *kind, char **msg,
              const char **line, size_t *len);

/* The output line of the task of input index index whose record is at
 * off (ckpt_append's), read back: its kind and line (valid until the next
 * read).  0 or -1. */
int ckpt_read_line(ckpt *ck, uint64_t index, uint64_t off,
                   dlp_fail_kind *kind, const char **line, size_t *len);

/* Append a finished task: input index, its line's hash, how it ended
 * (msg: a failure's message) and its output line; *off is where its
 * record starts.  0 or -1. */
int ckpt_append(ckpt *ck, uint64_t index, uint64_t hash, dlp_fail_kind kind,
                const char *msg, const char *line, size_t len,
                uint64_t *off);

/* Write out what is buffered.  0 or -1. */
int ckpt_flush(ckpt *ck);

/* A note for standard error (a damaged last record was cut off), or
 * NULL. */
const char *ckpt_note(const ckpt *ck);

/* Close the file (what is buffered is not written) and free everything.
 * Accepts NULL. */
void ckpt_close(ckpt *ck);

#endif
