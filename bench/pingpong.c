/*
 * pingpong - the floor under the apply latency: the round trip of one
 * small message between two processes over a socketpair, with no dlpool
 * at all.  The parent sends 48 bytes (a frame header and one task's
 * arguments) and waits in poll() as the pool's event loop does; the
 * forked child reads a 16-byte header and its payload with two blocking
 * reads and writes a 45-byte answer, as a worker does.  Each round trip
 * is timed alone, after a warm-up.
 *
 * Prints "median_us p99_us".
 *
 * Usage: pingpong [COUNT [WARMUP]]   (defaults 10000, 1000)
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* Read exactly n bytes; 0 on success, -1 at EOF or on an error. */
static int read_full(int fd, char *buf, size_t n)
{
    while (n) {
        ssize_t r = read(fd, buf, n);
        if (r <= 0)
            return -1;
        buf += r;
        n -= (size_t)r;
    }
    return 0;
}

static void child(int fd)
{
    char buf[64] = {0};
    while (read_full(fd, buf, 16) == 0 && read_full(fd, buf + 16, 32) == 0)
        if (write(fd, buf, 45) != 45)
            break;
    _exit(0);
}

int main(int argc, char **argv)
{
    long count = argc > 1 ? atol(argv[1]) : 10000;
    long warmup = argc > 2 ? atol(argv[2]) : 1000;
    char buf[64] = {0};
    double *t;
    int sv[2];
    pid_t pid;

    if (count < 1 || warmup < 0) {
        fprintf(stderr, "usage: pingpong [COUNT [WARMUP]]\n");
        return 2;
    }
    t = malloc((size_t)count * sizeof *t);
    if (!t || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
        perror("pingpong");
        return 2;
    }
    if ((pid = fork()) < 0) {
        perror("pingpong: fork");
        return 2;
    }
    if (pid == 0) {
        close(sv[0]);
        child(sv[1]);
    }
    close(sv[1]);
    for (long i = 0; i < warmup + count; i++) {
        struct pollfd pfd = {sv[0], POLLIN, 0};
        double t0 = now();
        if (send(sv[0], buf, 48, 0) != 48 || poll(&pfd, 1, -1) != 1 ||
            read_full(sv[0], buf, 45)) {
            fprintf(stderr, "pingpong: the child stopped answering\n");
            return 1;
        }
        if (i >= warmup)
            t[i - warmup] = (now() - t0) * 1e6;
    }
    close(sv[0]);
    waitpid(pid, NULL, 0);
    qsort(t, (size_t)count, sizeof *t, cmp_double);
    printf("%.2f %.2f\n", t[count / 2], t[(count * 99) / 100]);
    free(t);
    return 0;
}
