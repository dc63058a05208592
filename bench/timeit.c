/*
 * timeit - run a command several times and print, for every figure a run
 * gives, "median min max".
 *
 * Usage: timeit [-n RUNS] [-s] [-i FILE | -p GENERATOR] -- COMMAND [ARG...]
 *
 *   -n RUNS       runs (default 3)
 *   -s            the command measures itself: the numbers on the last
 *                 line of its standard output are figures of the run
 *                 (standard output is otherwise discarded)
 *   -i FILE       standard input from FILE (default /dev/null)
 *   -p GENERATOR  standard input from a pipe that the shell command
 *                 GENERATOR writes, started afresh for every run
 *
 * Every run gives its own figures (with -s), then the wall time of the
 * whole process in seconds, then its peak resident set size in KiB.  The
 * peak is ru_maxrss from wait4() on the command (what GNU time's %M
 * reports): the largest of the command's own peak and those of the
 * descendants it reaped, such as a pool's workers.  The output is one
 * line, three numbers per figure in that order.
 *
 * A run that fails (a status other than 0, a line of figures missing or
 * a different count of them) stops everything with status 1; the
 * command's standard error is left on standard error.  Written in C, not
 * in a scripting language, so that the benchmarks need no interpreter of
 * their own and the comparisons with Python can be skipped when it is
 * missing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_FIGURES 16
#define MAX_RUNS 1000

static void fail(const char *what)
{
    fprintf(stderr, "timeit: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Start "sh -c cmd" writing into a new pipe; returns the read end. */
static int start_generator(const char *cmd, pid_t *pid)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        fail("pipe");
    *pid = fork();
    if (*pid < 0)
        fail("fork");
    if (*pid == 0) {
        dup2(p[1], 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    return p[0];
}

/* Read everything from fd into a growing buffer, NUL-terminated. */
static char *slurp(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    if (!buf)
        fail("malloc");
    for (;;) {
        ssize_t r;
        if (len + 1 == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger)
                fail("realloc");
            buf = bigger;
            cap *= 2;
        }
        r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            fail("read");
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    return buf;
}

/* The numbers on the last non-empty line of text; returns their count, or
 * -1 if something on it is not a number. */
static int last_line_numbers(char *text, double *out, int max)
{
    char *end = text + strlen(text), *line, *p;
    int n = 0;
    while (end > text && (end[-1] == '\n' || end[-1] == ' '))
        *--end = '\0';
    line = strrchr(text, '\n');
    line = line ? line + 1 : text;
    p = line;
    while (*p) {
        char *q;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (n == max)
            return -1;
        out[n++] = strtod(p, &q);
        if (q == p)
            return -1;
        p = q;
    }
    return n;
}

int main(int argc, char **argv)
{
    static double fig[MAX_FIGURES][MAX_RUNS];
    int runs = 3, self = 0, opt, nfig = -1;
    const char *input = NULL, *gen = NULL;

    while ((opt = getopt(argc, argv, "+n:si:p:")) != -1) {
        switch (opt) {
        case 'n':
            runs = atoi(optarg);
            break;
        case 's':
            self = 1;
            break;
        case 'i':
            input = optarg;
            break;
        case 'p':
            gen = optarg;
            break;
        default:
            return 2;
        }
    }
    if (optind >= argc || runs < 1 || runs > MAX_RUNS || (input && gen)) {
        fprintf(stderr, "usage: timeit [-n RUNS] [-s] [-i FILE | -p GEN] "
                        "-- COMMAND [ARG...]\n");
        return 2;
    }
    argv += optind;

    for (int r = 0; r < runs; r++) {
        double own[MAX_FIGURES], t0, t1;
        int in, out[2] = {-1, -1}, status, n = 0;
        pid_t pid, gpid = -1;
        struct rusage ru;
        char *text = NULL;

        if (gen)
            in = start_generator(gen, &gpid);
        else if ((in = open(input ? input : "/dev/null",
                            O_RDONLY | O_CLOEXEC)) < 0)
            fail(input ? input : "/dev/null");
        if (self && pipe2(out, O_CLOEXEC) < 0)
            fail("pipe");
        t0 = now();
        pid = fork();
        if (pid < 0)
            fail("fork");
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
            dup2(in, 0);
            dup2(self ? out[1] : null, 1);
            execvp(argv[0], argv);
            fprintf(stderr, "timeit: %s: %s\n", argv[0], strerror(errno));
            _exit(127);
        }
        close(in);
        if (self) {
            close(out[1]);
            text = slurp(out[0]);
            close(out[0]);
        }
        while (wait4(pid, &status, 0, &ru) < 0)
            if (errno != EINTR)
                fail("wait4");
        t1 = now();
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "timeit: %s failed (%s %d)\n", argv[0],
                    WIFEXITED(status) ? "status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status)
                                      : WTERMSIG(status));
            return 1;
        }
        if (gen) {
            int gstatus;
            while (waitpid(gpid, &gstatus, 0) < 0)
                if (errno != EINTR)
                    fail("waitpid");
            if (!WIFEXITED(gstatus) || WEXITSTATUS(gstatus) != 0) {
                fprintf(stderr, "timeit: the generator failed\n");
                return 1;
            }
        }
        if (self) {
            n = last_line_numbers(text, own, MAX_FIGURES - 2);
            free(text);
            if (n <= 0) {
                fprintf(stderr, "timeit: %s printed no figures\n", argv[0]);
                return 1;
            }
        }
        own[n++] = t1 - t0;
        own[n++] = (double)ru.ru_maxrss;
        if (nfig >= 0 && n != nfig) {
            fprintf(stderr, "timeit: %s printed %d figures, then %d\n",
                    argv[0], nfig - 2, n - 2);
            return 1;
        }
        nfig = n;
        for (int k = 0; k < n; k++)
            fig[k][r] = own[k];
    }

    for (int k = 0; k < nfig; k++) {
        double *v = fig[k], med;
        qsort(v, (size_t)runs, sizeof *v, cmp_double);
        med = runs % 2 ? v[runs / 2] : (v[runs / 2 - 1] + v[runs / 2]) / 2;
        printf("%s%.9g %.9g %.9g", k ? " " : "", med, v[0], v[runs - 1]);
    }
    printf("\n");
    return 0;
}
