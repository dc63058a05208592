/*
 * common.c - error strings, buffers and robust I/O.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "utf8.h"

DLP_API const char *dlp_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define DLP_ERR_CASE_(name, value, text)                                       \
    case value:                                                                \
        return text;
        DLP_ERRNO_MAP(DLP_ERR_CASE_)
#undef DLP_ERR_CASE_
    /* The errno values the library passes through.  strerror() is not
     * thread-safe and may allocate, so the common ones are listed here. */
    case -ENOMEM:
        return "out of memory";
    case -EINVAL:
        return "invalid argument";
    case -EAGAIN:
        return "resource temporarily unavailable";
    case -EMFILE:
        return "too many open files";
    case -EPIPE:
        return "broken pipe";
    case -ENOENT:
        return "no such file or directory";
    case -EINTR:
        return "interrupted system call";
    case -ETIMEDOUT:
        return "timed out";
    case -EBUSY:
        return "busy";
    case -EIO:
        return "input/output error";
    default:
        if (code < 0 && code > -4096) {
            /* A static, untranslated description (glibc 2.32). */
            const char *d = strerrordesc_np(-code);
            if (d)
                return d;
        }
        return "unknown error";
    }
}

void dlp__utf8_trim(char *s)
{
    dlp__utf8_trim_inline(s);
}

int dlp__err(dlp_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        int n;
        err->code = code;
        va_start(ap, fmt);
        n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= (int)sizeof err->msg)
            dlp__utf8_trim(err->msg);
    }
    return code;
}

int dlp__buf_grow(dlp__buf *b, size_t n)
{
    size_t cap;
    unsigned char *p;
    if (b->cap - b->len >= n)
        return 0;
    if (n > SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    cap = b->cap ? b->cap : 256;
    while (cap - b->len < n)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}


void dlp__buf_free(dlp__buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int dlp__read_full(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        if (r > 0) {
            got += (size_t)r;
        } else if (r == 0) {
            return got ? -EPIPE : 1;
        } else if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

int dlp__write_full(int fd, const void *p, size_t n)
{
    size_t put = 0;
    while (put < n) {
        ssize_t r = write(fd, (const char *)p + put, n - put);
        if (r >= 0)
            put += (size_t)r;
        else if (errno != EINTR)
            return -errno;
    }
    return 0;
}

int dlp__send_full(int fd, const void *p, size_t n)
{
    size_t put = 0;
    while (put < n) {
        ssize_t r = send(fd, (const char *)p + put, n - put, MSG_NOSIGNAL);
        if (r >= 0)
            put += (size_t)r;
        else if (errno != EINTR)
            return errno == ECONNRESET ? -EPIPE : -errno;
    }
    return 0;
}

void dlp__close_from(int lowfd)
{
    if (close_range((unsigned)lowfd, ~0u, 0) < 0)
        for (int fd = lowfd; fd < 65536; fd++)
            close(fd);
}

void dlp__describe_status(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *abbr = sigabbrev_np(sig);
        if (abbr)
            snprintf(buf, size, "killed by SIG%s", abbr);
        else
            snprintf(buf, size, "killed by signal %d", sig);
    } else if (WIFEXITED(status)) {
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
    } else {
        snprintf(buf, size, "stopped (wait status %#x)", (unsigned)status);
    }
}

int dlp__fd_above_stdio(int fd)
{
    int hi;
    if (fd < 0 || fd > 2)
        return fd;
    hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (hi < 0)
        return fd; /* keep the low one: still better than failing */
    close(fd);
    return hi;
}

int dlp__reap(pid_t pid, int grace_ms)
{
    int status;
    uint64_t deadline = dlp__now_ns() + (uint64_t)grace_ms * 1000000u;
    long nap_ns = 20000;
    if (pid <= 0)
        return -1; /* never waitpid(0) or (-1): those are not ours */
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (r == 0) {
            struct timespec ts = {0, nap_ns};
            if (dlp__now_ns() >= deadline)
                break;
            /* Short naps first: a worker whose channel just closed is
             * usually gone within microseconds. */
            nanosleep(&ts, NULL);
            if (nap_ns < 2000000)
                nap_ns *= 2;
        }
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return status;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t dlp__now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

uint64_t dlp__realtime_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}
