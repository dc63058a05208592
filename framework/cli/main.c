/*
 * dlpool - the command line: map a plugin function over JSON Lines.
 *
 * It uses only the public API in <dlpool.h>: the command is one client of
 * the library among others.  JSON is read and written with jansson.
 *
 * A run's data flows through these files, in this order:
 *   main.c     the standard descriptors, the commands
 *   options.c  the command line of `dlpool run`
 *   run.c      the run: set-up, the loop that collects results, the end
 *   reader.c   tasks from the input's lines (input.c: a line's arguments)
 *   sources.c  tasks from ::: and :::: sources on the command line
 *   results.c  each result as its output line (output.c writes them)
 *   records.c  what is kept besides: checkpoint, job log, trace, order
 *   progress.c the progress line; say.c, text.c: messages
 * and `dlpool inspect` is inspect.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlpool.h"
#include "inspect.h"
#include "output.h"
#include "run.h"
#include "say.h"
#include "signals.h"

/*
 * Descriptors 0-2 made valid before anything is opened, so that none of
 * the command's own files (input, checkpoint, job log, trace) ever takes
 * one and gets results or messages written into it.  A closed one gets
 * /dev/null opened the other way round for standard input and output:
 * reading or writing it fails (EBADF), and the command says so (a closed
 * output is a write error, status 2).  A closed standard error gets
 * /dev/null for writing: messages vanish, as they would have.
 */
static void open_std_fds(void)
{
    static const int mode[3] = {O_WRONLY, O_RDONLY, O_WRONLY};
    for (int fd = 0; fd < 3; fd++) {
        int got;
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        /* The lowest free descriptor: this one, the lower being valid. */
        got = open("/dev/null", mode[fd]);
        if (got != fd) {
            if (fcntl(2, F_GETFD) >= 0)
                fprintf(stderr, "%s: descriptor %d is closed and /dev/null "
                        "cannot be opened in its place: %s\n", PROG, fd,
                        got < 0 ? strerror(errno) : "took another number");
            exit(EXIT_SETUP);
        }
    }
}

/* Messages go through a writer of ours too, so that a non-blocking
 * standard error that is full is waited on instead of losing them; a
 * worker (a fork) gets back the stream its plugin expects. */
static FILE *stderr_stdio;

static void stderr_in_child(void)
{
    stderr = stderr_stdio;
}

static void stderr_through_writer(void)
{
    static output *err_out;
    if (!(err_out = output_open(2, "standard error", signals_flag(), 1)))
        return;
    stderr_stdio = stderr;
    if (pthread_atfork(NULL, NULL, stderr_in_child) == 0)
        stderr = output_stream(err_out);
}

int main(int argc, char **argv)
{
    open_std_fds();
    stderr_through_writer();
    if (argc < 2)
        die_usage("missing command");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return stdout_written();
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("dlpool %s\n", DLPOOL_VERSION_STRING);
        return stdout_written();
    }
    if (!strcmp(argv[1], "run"))
        return run_command(argc - 1, argv + 1);
    if (!strcmp(argv[1], "inspect"))
        return inspect_command(argc - 1, argv + 1);
    die_usage("unknown command '%s'", argv[1]);
}
