/*
 * ceiling - the physical ceiling of the C API benchmark, without dlpool:
 * how fast can N tasks add(a, b) go through two forked worker processes on
 * this machine when nothing but the unavoidable is done?
 *
 * The parent forks WORKERS workers, each with a socketpair.  It writes
 * batches of BATCH (a, b) int64 pairs, batch k to worker k % WORKERS, and
 * keeps DEPTH batches in flight per worker so that no worker waits for the
 * parent.  A worker reads a whole batch, makes one ffi_call of a call
 * interface prepared once per task, and writes the batch's results back in
 * one write.  The parent reads the results in input order (batch k from
 * worker k % WORKERS), so they come out ordered as an ordered imap's do,
 * and sums them to check that every task ran once.
 *
 * With BATCH 1 every task is one message each way: the cost of a design
 * that does not batch.
 *
 * It prints the seconds from the first write to the last result read;
 * forking the workers is left out, as the C API benchmark leaves out
 * creating the pool.  Only libffi and POSIX are used.
 *
 * Usage: ceiling N [BATCH [WORKERS [DEPTH]]]
 *        (defaults 1000000, 1000, 2, and 8 batches or 128 single tasks)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <ffi.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_WORKERS 64

/* The task function.  noinline and called only through libffi, so the
 * compiler cannot fold it into the loop: the same call a dlpool worker
 * makes. */
__attribute__((noinline)) static int64_t add(int64_t a, int64_t b)
{
    return a + b;
}

static void die(const char *what)
{
    fprintf(stderr, "ceiling: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* Read exactly len bytes; 0 at end of file before the first byte. */
static int read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, p + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("read");
        if (r == 0) {
            if (got == 0)
                return 0;
            fprintf(stderr, "ceiling: short read\n");
            exit(2);
        }
        got += (size_t)r;
    }
    return 1;
}

static void write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            die("write");
        p += w;
        len -= (size_t)w;
    }
}

/* Prepare the call interface of add(int64, int64) once. */
static void prep(ffi_cif *cif)
{
    static ffi_type *args[2] = {&ffi_type_sint64, &ffi_type_sint64};
    if (ffi_prep_cif(cif, FFI_DEFAULT_ABI, 2, &ffi_type_sint64, args) !=
        FFI_OK) {
        fprintf(stderr, "ceiling: ffi_prep_cif failed\n");
        _exit(2);
    }
}

static int64_t call(ffi_cif *cif, int64_t *pair)
{
    void *av[2] = {&pair[0], &pair[1]};
    ffi_arg r;
    ffi_call(cif, FFI_FN(add), &r, av);
    return (int64_t)r;
}

/* A batching worker: a whole batch in, one call per task, the batch's
 * results out in one write, until the parent closes the socket. */
static void worker_batch(int fd, size_t batch)
{
    ffi_cif cif;
    int64_t *in = malloc(batch * 2 * sizeof *in);
    int64_t *out = malloc(batch * sizeof *out);
    if (!in || !out)
        die("malloc");
    prep(&cif);
    while (read_full(fd, in, batch * 2 * sizeof *in)) {
        for (size_t i = 0; i < batch; i++)
            out[i] = call(&cif, &in[2 * i]);
        write_full(fd, out, batch * sizeof *out);
    }
    _exit(0);
}

/* A worker of the one-message-per-task design: it reads whatever has
 * arrived (a buffered reader, as any stream protocol has), and answers
 * every task with a message, one write each. */
static void worker_msg(int fd)
{
    ffi_cif cif;
    int64_t buf[8192];
    size_t have = 0; /* bytes in buf */
    prep(&cif);
    for (;;) {
        ssize_t r = read(fd, (char *)buf + have, sizeof buf - have);
        size_t whole;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("read");
        if (r == 0)
            break;
        have += (size_t)r;
        whole = have / (2 * sizeof(int64_t));
        for (size_t i = 0; i < whole; i++) {
            int64_t res = call(&cif, &buf[2 * i]);
            write_full(fd, &res, sizeof res);
        }
        have -= whole * 2 * sizeof(int64_t);
        memmove(buf, (char *)buf + whole * 2 * sizeof(int64_t), have);
    }
    _exit(0);
}

/* Batched: fill the pipeline, then for each batch read in order, send one
 * more to the worker that just answered.  Returns the sum of the results. */
static int64_t run_batch(const int *fds, unsigned workers, uint64_t n,
                         size_t batch, size_t depth)
{
    int64_t *in = malloc(batch * 2 * sizeof *in);
    int64_t *out = malloc(batch * sizeof *out);
    uint64_t batches = n / batch, sent = 0, next_task = 0;
    int64_t sum = 0;
    if (!in || !out)
        die("malloc");
    for (; sent < batches && sent < depth * workers; sent++) {
        for (size_t i = 0; i < batch; i++, next_task++)
            in[2 * i] = in[2 * i + 1] = (int64_t)next_task;
        write_full(fds[sent % workers], in, batch * 2 * sizeof *in);
    }
    for (uint64_t k = 0; k < batches; k++) {
        if (!read_full(fds[k % workers], out, batch * sizeof *out)) {
            fprintf(stderr, "ceiling: a worker ended early\n");
            exit(2);
        }
        for (size_t i = 0; i < batch; i++)
            sum += out[i];
        if (sent < batches) {
            /* sent % workers == k % workers: the pipeline is a whole
             * number of rounds deep. */
            for (size_t i = 0; i < batch; i++, next_task++)
                in[2 * i] = in[2 * i + 1] = (int64_t)next_task;
            write_full(fds[sent % workers], in, batch * 2 * sizeof *in);
            sent++;
        }
    }
    free(in);
    free(out);
    return sum;
}

/* One message per task: task k goes to worker k % workers in a write of
 * its own; results are read in order through a buffered reader per
 * worker, and each one read lets one more task go to that worker. */
static int64_t run_msg(const int *fds, unsigned workers, uint64_t n,
                       size_t depth)
{
    struct rbuf {
        int64_t v[8192];
        size_t head, bytes; /* next unread result; bytes held */
    } *rb = calloc(workers, sizeof *rb);
    uint64_t sent = 0;
    int64_t sum = 0;
    if (!rb)
        die("calloc");
    for (; sent < n && sent < depth * workers; sent++) {
        int64_t pair[2] = {(int64_t)sent, (int64_t)sent};
        write_full(fds[sent % workers], pair, sizeof pair);
    }
    for (uint64_t k = 0; k < n; k++) {
        struct rbuf *b = &rb[k % workers];
        while (b->bytes - b->head * sizeof(int64_t) < sizeof(int64_t)) {
            /* Keep a partial result, read whatever has come. */
            size_t part = b->bytes - b->head * sizeof(int64_t);
            ssize_t r;
            memmove(b->v, &b->v[b->head], part);
            b->head = 0;
            b->bytes = part;
            r = read(fds[k % workers], (char *)b->v + part,
                     sizeof b->v - part);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                die("read");
            if (r == 0) {
                fprintf(stderr, "ceiling: a worker ended early\n");
                exit(2);
            }
            b->bytes += (size_t)r;
        }
        sum += b->v[b->head++];
        if (sent < n) {
            int64_t pair[2] = {(int64_t)sent, (int64_t)sent};
            write_full(fds[sent % workers], pair, sizeof pair);
            sent++;
        }
    }
    free(rb);
    return sum;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    size_t batch = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
    unsigned workers = argc > 3 ? (unsigned)atoi(argv[3]) : 2;
    size_t depth;
    int fds[MAX_WORKERS];
    pid_t pids[MAX_WORKERS];
    int64_t sum;
    double t0, t1;
    int status, bad = 0;

    if (batch == 0 || workers == 0 || workers > MAX_WORKERS || n % batch) {
        fprintf(stderr, "usage: ceiling N [BATCH [WORKERS [DEPTH]]] "
                        "(BATCH divides N, 1 <= WORKERS <= %d)\n",
                MAX_WORKERS);
        return 2;
    }
    /* DEPTH: enough in flight to keep a worker busy while the parent
     * serves the other, and little enough that the socket buffers (about
     * 200 KiB, each message costing its own buffer overhead) never fill
     * both ways at once, which would deadlock the blocking writes. */
    depth = argc > 4 ? strtoul(argv[4], NULL, 10) : (batch > 1 ? 8 : 128);
    if (depth == 0 || (batch == 1 && depth > 128) ||
        (batch > 1 && depth * batch > 16384)) {
        fprintf(stderr, "ceiling: DEPTH must be 1 to 128 single tasks, or "
                        "at most 16384 tasks in batches\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    for (unsigned w = 0; w < workers; w++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            die("socketpair");
        pids[w] = fork();
        if (pids[w] < 0)
            die("fork");
        if (pids[w] == 0) {
            /* Keep only this worker's own end. */
            for (unsigned v = 0; v < w; v++)
                close(fds[v]);
            close(sv[0]);
            if (batch > 1)
                worker_batch(sv[1], batch);
            worker_msg(sv[1]);
        }
        close(sv[1]);
        fds[w] = sv[0];
    }

    t0 = now();
    sum = batch > 1 ? run_batch(fds, workers, n, batch, depth)
                    : run_msg(fds, workers, n, depth);
    t1 = now();

    for (unsigned w = 0; w < workers; w++)
        close(fds[w]);
    for (unsigned w = 0; w < workers; w++)
        if (waitpid(pids[w], &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            bad = 1;
    /* The sum of 2i for i < n is n(n - 1). */
    if (bad || sum != (int64_t)(n * (n - 1))) {
        fprintf(stderr, "ceiling: wrong result: sum %lld, workers %s\n",
                (long long)sum, bad ? "failed" : "ok");
        return 1;
    }
    printf("%.6f\n", t1 - t0);
    return 0;
}
