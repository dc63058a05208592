/*
 * reader.c - part of the dlpool command (framework/cli/main.c): the tasks
 * of a run read from its input, one JSON line each.  See reader.h.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlpool.h"
#include "fingerprint.h"
#include "input.h"
#include "reader.h"

#define INPUT_PAUSE 2

/* The next line (without its newline) in *line, *len: returns 1, 0 at the
 * end of the input, -errno on a read error, or INPUT_PAUSE when may_pause
 * is set and no whole line can be had without blocking.  A line longer
 * than in->max_line is returned with in->long_len set to its length and
 * only its last piece in *line: the rest was read past, its hash kept in
 * in->skip_hash (when a checkpoint checks lines). */
static int read_line(reader *in, const char **line, size_t *len,
                     int may_pause)
{
    for (;;) {
        size_t have = in->end - in->start;
        /* Only the bytes read since the last look are searched: a long
         * line read in blocks is scanned once, not once per block. */
        char *nl = have > in->clean ? memchr(in->buf + in->start + in->clean,
                                             '\n', have - in->clean)
                                    : NULL;
        in->clean = have;
        if (nl || (in->eof && (have || in->skipped))) {
            in->clean = 0;
            /* A line, or a last line with no newline. */
            *line = in->buf + in->start;
            *len = nl ? (size_t)(nl - *line) : have;
            in->start += *len + (nl != NULL);
            in->long_len = in->skipped + *len > in->max_line
                               ? in->skipped + *len
                               : 0;
            if (in->skipped && rec_skips(in->rec))
                in->skip_hash = fingerprint_hash(in->skip_hash, *line, *len);
            in->skipped = 0;
            return 1;
        }
        if (in->eof)
            return 0;
        if (in->skipped || have > in->max_line) {
            /* No newline in more than max_line bytes: the line is too
             * long to be a task.  Read past it, keeping its hash. */
            if (rec_skips(in->rec))
                in->skip_hash = fingerprint_hash(
                    in->skipped ? in->skip_hash : FINGERPRINT_HASH_START,
                    in->buf + in->start, have);
            in->skipped += have;
            in->start = in->end = in->clean = 0;
        }
        if (in->start) {
            memmove(in->buf, in->buf + in->start, in->end - in->start);
            in->end -= in->start;
            in->start = 0;
        }
        if (in->end == in->cap) {
            /* Room for max_line bytes and one more, to see that a line
             * is longer: never more. */
            size_t cap = in->cap ? in->cap * 2 : 1 << 16;
            if (cap > in->max_line + 1)
                cap = in->max_line + 1;
            char *b = realloc(in->buf, cap);
            if (!b)
                return -ENOMEM;
            in->buf = b;
            in->cap = cap;
        }
        if (may_pause) {
            /* Nothing to read now: pause rather than block.  A signal in
             * the poll asks again (falling through to a read that blocks
             * would leave the signal unheeded until input came). */
            struct pollfd pfd = {in->fd, POLLIN, 0};
            int pr = poll(&pfd, 1, 0);
            if (pr < 0 && errno == EINTR)
                continue;
            if (pr == 0)
                return INPUT_PAUSE;
        }
        ssize_t r = read(in->fd, in->buf + in->end, in->cap - in->end);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            in->eof = 1;
        in->end += (size_t)r;
    }
}

/* How many tasks a small regular file holds (its lines, at most), read
 * whole into the input's buffer now (the reader takes them from there):
 * a pool needs no more workers than that, and each costs a fork.  Returns
 * 0 for anything else (a pipe, a large or growing file): unknown. */
size_t reader_small_tasks(reader *in)
{
    struct stat st;
    size_t lines = 0;
    if (fstat(in->fd, &st) || !S_ISREG(st.st_mode) || st.st_size >= 1 << 16)
        return 0;
    if (!(in->buf = malloc(in->cap = 1 << 16)))
        return 0;
    while (in->end < in->cap) {
        ssize_t r = read(in->fd, in->buf + in->end, in->cap - in->end);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            in->eof = r == 0;
            break;
        }
        in->end += (size_t)r;
    }
    if (!in->eof)
        return 0; /* a read error (the reader meets it again) or it grew */
    for (const char *p = in->buf, *e = in->buf + in->end; p < e; lines++) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        p = nl ? nl + 1 : e;
    }
    return lines ? lines : 1;
}

int reader_next_task(void *ud, uint64_t index, dlp_args *a)
{
    reader *in = ud;
    const char *line = NULL;
    size_t n = 0;
    int rc;

    /* A line whose result is in the checkpoint is skipped (records.c
     * writes its stored line in its place): read on. */
    do {
        if (in->stop)
            return 0;
        rc = read_line(in, &line, &n, 1);
        if (rc == INPUT_PAUSE) {
            /* Input is slow: from now on results are written as they
             * come. */
            in->paused = 1;
            output_flush(in->out);
            return DLP_ITER_PAUSE;
        }
        if (rc < 0) {
            in->io_errno = -rc;
            return -EIO;
        }
        if (rc == 0)
            return rec_input_end(in->rec) ? -EINVAL : 0;
    } while ((rc = in->long_len > n /* read past: its hash was kept */
                       ? rec_line_hash(in->rec, index, in->skip_hash)
                       : rec_line(in->rec, index, line, n)) == 1);
    if (rc < 0)
        return -EINVAL; /* the checkpoint is of other input */
    if (in->long_len) {
        dlp_args_fail(a, "the line is longer than --max-line-length (%zu "
                         "bytes): %" PRIu64 " bytes",
                      in->max_line, in->long_len);
        return 1;
    }
    return input_line_args(in->sig, in->array_arg, line, n, a);
}

/* Where the reader is in a regular file: base is the offset of the first
 * byte of the input in the file. */
typedef struct reader_at {
    reader *in;
    uint64_t base;
} reader_at;

/* Bytes handed out as tasks: those read from the file, less those still in
 * the buffer.  Nothing is read for it. */
static void reader_where(void *ud, progress_pos *pos)
{
    const reader_at *at = ud;
    const reader *in = at->in;
    off_t off = lseek(in->fd, 0, SEEK_CUR);
    uint64_t behind = at->base + (in->end - in->start);
    pos->bytes = off >= 0 && (uint64_t)off > behind ? (uint64_t)off - behind
                                                    : 0;
    pos->complete = in->eof && in->start == in->end;
}

void reader_size(reader *in, progress_size *size)
{
    static reader_at at;
    struct stat st;
    if (fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode)) {
        /* No task has been read yet: the buffer holds only what was read
         * ahead, which is still to come. */
        off_t off = lseek(in->fd, 0, SEEK_CUR);
        if (off >= 0 && (uint64_t)off >= in->end - in->start) {
            at.in = in;
            at.base = (uint64_t)off - (in->end - in->start);
            if ((uint64_t)st.st_size > at.base) {
                size->bytes = (uint64_t)st.st_size - at.base;
                size->where = reader_where;
                size->where_ud = &at;
            }
        }
    }
}
