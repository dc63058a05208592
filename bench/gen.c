/*
 * gen - write N JSON Lines "[i,i]" (i = 0 .. N-1) to standard output, the
 * input of the command-line benchmarks.  It formats into a large buffer by
 * hand so that, read through a pipe, it is never what limits the command
 * it feeds.
 *
 * Usage: gen N
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Write the decimal digits of v at p; returns the number written. */
static size_t put_u64(char *p, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static int flush(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(1, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static char buf[1 << 16];
    uint64_t n;
    size_t used = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: gen N\n");
        return 2;
    }
    n = strtoull(argv[1], NULL, 10);
    for (uint64_t i = 0; i < n; i++) {
        char num[24];
        size_t k = put_u64(num, i);
        if (used + 2 * k + 4 > sizeof buf) {
            if (flush(buf, used) < 0)
                goto fail;
            used = 0;
        }
        buf[used++] = '[';
        memcpy(buf + used, num, k);
        used += k;
        buf[used++] = ',';
        memcpy(buf + used, num, k);
        used += k;
        buf[used++] = ']';
        buf[used++] = '\n';
    }
    if (flush(buf, used) < 0)
        goto fail;
    return 0;
fail:
    /* A reader that stops early (EPIPE) is not this program's failure to
     * report loudly; anything else is. */
    if (errno != EPIPE)
        fprintf(stderr, "gen: write: %s\n", strerror(errno));
    return 1;
}
