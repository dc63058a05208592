/*
 * output.c - the writer of the dlpool command's results (see output.h).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"

#define OUT_BUF (1 << 16)

/* Once the command has been told to stop, how long a write waits for the
 * reader to make room before the rest is given up. */
#define STOP_GRACE_MS 2000

struct output {
    int fd;
    int err; /* the errno of the write that failed, for good */
    pid_t pid; /* the process the writer belongs to */
    uint64_t lost; /* lines given to the writer that never got out whole */
    const char *name;
    volatile sig_atomic_t *stop;
    FILE *stream; /* the buffer, stdio's */
};

/* output_write_all, with in *done how much was written. */
static int write_all(int fd, const void *buf, size_t n,
                     volatile sig_atomic_t *stop, size_t *done)
{
    const char *p = buf;
    *done = 0;
    while (n) {
        size_t k = n;
        ssize_t w;
        if (stop && *stop) {
            /* Told to stop (a blocked write was interrupted, or the run
             * is handing out what has finished): lines still go out
             * while the reader makes room, a pipe's atomic size at a
             * time so that no write blocks once poll says there is room;
             * a reader that makes none for a while is not waited for. */
            struct pollfd pfd = {fd, POLLOUT, 0};
            int pr = poll(&pfd, 1, STOP_GRACE_MS);
            if (pr == 0)
                return -EINTR;
            if (pr < 0 && errno != EINTR)
                return -errno;
            if (pr < 0)
                continue;
            if (k > PIPE_BUF)
                k = PIPE_BUF;
        }
        w = write(fd, p, k);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            *done += (size_t)w;
            continue;
        }
        if (w == 0)
            return -EIO; /* no progress and no error: never loop on it */
        if (errno == EINTR)
            continue; /* the stop flag is looked at above */
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            /* A non-blocking descriptor (shared with whoever set the
             * flag: it is not ours to clear): wait until it drains.  A
             * signal ends the wait; the loop sees whether to stop. */
            struct pollfd pfd = {fd, POLLOUT, 0};
            if (!(stop && *stop) && poll(&pfd, 1, -1) < 0 && errno != EINTR)
                return -errno;
            continue;
        }
        return -errno;
    }
    return 0;
}

int output_write_all(int fd, const void *p, size_t n,
                     volatile sig_atomic_t *stop)
{
    size_t done;
    return write_all(fd, p, n, stop, &done);
}

static uint64_t count_lines(const char *p, size_t n)
{
    uint64_t k = 0;
    const char *nl;
    while (n && (nl = memchr(p, '\n', n))) {
        k++;
        n -= (size_t)(nl + 1 - p);
        p = nl + 1;
    }
    return k;
}

/* Write p[0, n) to the descriptor; a failure is kept, with the lines
 * that did not get out. */
static int put_out(output *o, const char *p, size_t n)
{
    size_t done;
    int rc = write_all(o->fd, p, n, o->stop, &done);
    if (rc) {
        o->err = -rc;
        o->lost += count_lines(p + done, n - done);
        return -1;
    }
    return 0;
}

static ssize_t stream_write(void *cookie, const char *p, size_t n)
{
    output *o = cookie;
    /* A worker forked while lines waited in the stream's buffer has a
     * copy of them: they are the parent's to write, never the worker's
     * (should it flush every stream as it leaves). */
    if (getpid() != o->pid)
        return (ssize_t)n;
    if (o->err)
        o->lost += count_lines(p, n);
    else
        put_out(o, p, n);
    /* Taken whole: a failure is kept by the writer, not by stdio. */
    return (ssize_t)n;
}

output *output_open(int fd, const char *name, volatile sig_atomic_t *stop,
                    int direct)
{
    static const cookie_io_functions_t io = {NULL, stream_write, NULL, NULL};
    output *o = malloc(sizeof *o);
    if (!o)
        return NULL;
    o->fd = fd;
    o->err = 0;
    o->name = name;
    o->stop = stop;
    o->lost = 0;
    o->pid = getpid();
    if (!(o->stream = fopencookie(o, "w", io))) {
        free(o);
        return NULL;
    }
    if (direct)
        setvbuf(o->stream, NULL, _IONBF, 0);
    else
        setvbuf(o->stream, NULL, _IOFBF, OUT_BUF);
    return o;
}

FILE *output_stream(output *o)
{
    return o->stream;
}

int output_flush(output *o)
{
    fflush(o->stream);
    return o->err ? -1 : 0;
}

int output_write(output *o, const void *p, size_t n)
{
    fwrite(p, 1, n, o->stream);
    return o->err ? -1 : 0;
}

int output_error(const output *o)
{
    return o->err;
}

uint64_t output_lost(const output *o)
{
    return o->lost;
}

const char *output_name(const output *o)
{
    return o->name;
}

void output_close(output *o)
{
    if (!o)
        return;
    fclose(o->stream);
    free(o);
}
