/*
 * wfile.c - part of the dlpool command (framework/cli/main.c): a file
 * written through a buffer of our own with write(2).  See wfile.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"
#include "text.h"
#include "wfile.h"

#define WFILE_BUF (64u * 1024)

struct wfile {
    int fd;
    int err; /* the first write error (an errno), reported at a flush */
    size_t len;
    char buf[WFILE_BUF];
};

/* output_write_all: EINTR retried and EAGAIN waited out (a FIFO given as
 * a file may be shared with whoever made it non-blocking); no signal cuts
 * it short: the files are written whole. */
int wfile_flush(wfile *f)
{
    int rc;
    if (f->len && !f->err &&
        (rc = output_write_all(f->fd, f->buf, f->len, NULL)))
        f->err = -rc;
    f->len = 0;
    return f->err;
}

void wfile_put(wfile *f, const char *p, size_t n)
{
    while (n) {
        size_t k = n < WFILE_BUF - f->len ? n : WFILE_BUF - f->len;
        memcpy(f->buf + f->len, p, k);
        f->len += k;
        p += k;
        n -= k;
        if (f->len == WFILE_BUF)
            wfile_flush(f);
    }
}

void wfile_puts(wfile *f, const char *s)
{
    wfile_put(f, s, strlen(s));
}

void wfile_putc(wfile *f, char c)
{
    wfile_put(f, &c, 1);
}

void wfile_printf(wfile *f, const char *fmt, ...)
{
    char small[512], *big = NULL;
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof small) {
        va_start(ap, fmt);
        n = vasprintf(&big, fmt, ap);
        va_end(ap);
    }
    if (n > 0)
        wfile_put(f, big ? big : small, (size_t)n);
    free(big);
}

void wfile_str(wfile *f, const char *s, size_t len)
{
    char *text = text_json(s, len);
    wfile_puts(f, text ? text : "\"\"");
    free(text);
}

wfile *wfile_open(const char *path)
{
    wfile *f = malloc(sizeof *f);
    if (!f)
        return NULL;
    f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    f->err = 0;
    f->len = 0;
    if (f->fd < 0) {
        int e = errno;
        free(f);
        errno = e;
        return NULL;
    }
    return f;
}

int wfile_close(wfile *f)
{
    int rc = wfile_flush(f);
    if (close(f->fd) < 0 && !rc)
        rc = errno;
    free(f);
    return rc;
}
