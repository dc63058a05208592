/* hostile - a plugin that misbehaves the ways plugin code does: it prints
 * without flushing (in tasks and in its fini hook), closes and writes into
 * descriptors that are not its own, closes every descriptor it can find,
 * prints a lot to a standard error nobody may read any more, and writes to
 * and reads from the terminal.  tests/hostile.sh runs each; a constructor
 * that never returns is hangctor.c, a plugin of its own. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <dlpool/plugin.h>

/* printf without fflush: standard output is a pipe or a file (the
 * worker's standard error), so this stays in stdio's buffer. */
static int64_t print_noflush(int64_t v)
{
    printf("hostile-task %lld\n", (long long)v);
    return v;
}

static void fini(void)
{
    printf("hostile-fini\n");
}

/* A descriptor mistake: closing what the plugin believes is its own low
 * descriptors (3 to 9). */
static int64_t close_low(int64_t v)
{
    for (int fd = 3; fd < 10; fd++)
        close(fd);
    return v;
}

/* Garbage into every low descriptor (0 to 9): a stale descriptor number
 * written to. */
static int64_t garbage_low(int64_t v)
{
    static const char junk[] = "\377garbage from a hostile plugin\n";
    for (int fd = 0; fd < 10; fd++) {
        ssize_t n = write(fd, junk, sizeof junk - 1);
        (void)n;
    }
    return v;
}

/* Close every descriptor but the standard ones, as a program that
 * daemonises does: this reaches the worker's channel wherever it is. */
static int64_t close_all(int64_t v)
{
    close_range(3, ~0u, 0);
    return v;
}

/* A lot of output: 256 KiB on standard output, flushed, and a line on
 * standard error. */
static int64_t spam(int64_t v)
{
    static char line[1024];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    for (int i = 0; i < 256; i++)
        fwrite(line, 1, sizeof line, stdout);
    fflush(stdout);
    fprintf(stderr, "hostile-spam %lld\n", (long long)v);
    return v;
}

/* A write to the terminal: standard error, unbuffered. */
static int64_t tty_write(int64_t v)
{
    fprintf(stderr, "hostile-tty %lld\n", (long long)v);
    return v;
}

/* A write to the terminal, then a tenth of a second of work. */
static int64_t tty_slow(int64_t v)
{
    fprintf(stderr, "hostile-tty %lld\n", (long long)v);
    usleep(100000);
    return v;
}

/* A read from the controlling terminal: the bytes read, or -errno. */
static int64_t tty_read(int64_t v)
{
    char c;
    ssize_t n;
    int fd = open("/dev/tty", O_RDONLY | O_CLOEXEC);
    (void)v;
    if (fd < 0)
        return -errno;
    n = read(fd, &c, 1);
    if (n < 0)
        n = -errno;
    close(fd);
    return n;
}

DLP_PLUGIN_HOOKS("hostile", NULL, fini, DLP_FN(print_noflush, "i64(i64)"),
                 DLP_FN(close_low, "i64(i64)"),
                 DLP_FN(garbage_low, "i64(i64)"),
                 DLP_FN(close_all, "i64(i64)"), DLP_FN(spam, "i64(i64)"),
                 DLP_FN(tty_write, "i64(i64)"), DLP_FN(tty_slow, "i64(i64)"),
                 DLP_FN(tty_read, "i64(i64)"));
