/*
 * common.h - helpers every module of the framework shares: error detail,
 * growable byte buffers, and I/O that retries on EINTR.
 */
#ifndef DLPOOL_FRAMEWORK_COMMON_H
#define DLPOOL_FRAMEWORK_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "dlpool.h"

#if defined(__GNUC__)
#define DLP_PRIV __attribute__((visibility("hidden")))
#define DLP_FMT(f, a) __attribute__((format(printf, f, a)))
#define DLP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define DLP_PRIV
#define DLP_FMT(f, a)
#define DLP_UNLIKELY(x) (x)
#endif

/*
 * Lock contracts.  A function that must be called with a mutex held says
 * so in its comment and asserts it: DLP_ASSERT_HELD(&p->mu).  Checked in
 * the sanitizer build (configure --enable-sanitizers defines
 * DLP_DEBUG_LOCKS) unless NDEBUG is set, and on glibc, which records in
 * every mutex it locks the thread id of its owner (and clears it on
 * unlock, also while a condition wait has the mutex released); a system
 * call per check, so never in a release build, where it is nothing.
 */
#if defined(DLP_DEBUG_LOCKS) && !defined(NDEBUG) && defined(__GLIBC__)
#include <assert.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
static inline int dlp__mutex_held(const pthread_mutex_t *mu)
{
    return mu->__data.__owner == (int)syscall(SYS_gettid);
}
#define DLP_ASSERT_HELD(mu) assert(dlp__mutex_held(mu))
#else
#define DLP_ASSERT_HELD(mu) ((void)0)
#endif

/* The largest frame either side accepts (1 GiB).  A single argument or
 * result must fit in it; see README, "Limits". */
#define DLP_FRAME_MAX ((size_t)1 << 30)

/* Set err (if not NULL) and return code. */
DLP_PRIV int dlp__err(dlp_error *err, int code, const char *fmt, ...)
    DLP_FMT(3, 4);

/* A growable byte buffer.  All-zero is an empty buffer. */
typedef struct dlp__buf {
    unsigned char *p;
    size_t len, cap;
} dlp__buf;

/* Grow b to hold n more bytes (the slow path of dlp__buf_reserve). */
DLP_PRIV int dlp__buf_grow(dlp__buf *b, size_t n);

/* Make room for n more bytes.  Returns 0 or -ENOMEM.  Inline: it is on
 * the path of every argument and every result. */
static inline int dlp__buf_reserve(dlp__buf *b, size_t n)
{
    return b->cap - b->len >= n ? 0 : dlp__buf_grow(b, n);
}

static inline int dlp__buf_put(dlp__buf *b, const void *p, size_t n)
{
    int rc = dlp__buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}
DLP_PRIV void dlp__buf_free(dlp__buf *b);

/* Read or write exactly n bytes on a blocking descriptor, retrying on
 * EINTR.  Return 0, -EPIPE-like -errno, or (read) 1 on clean EOF before
 * the first byte. */
DLP_PRIV int dlp__read_full(int fd, void *p, size_t n);
DLP_PRIV int dlp__write_full(int fd, const void *p, size_t n);
/* The same for a socket, with MSG_NOSIGNAL: a peer that is gone (or that
 * closed with data unread and reset the connection) is -EPIPE, never a
 * SIGPIPE. */
DLP_PRIV int dlp__send_full(int fd, const void *p, size_t n);

/* Close every descriptor from lowfd up (in a child the library forked). */
DLP_PRIV void dlp__close_from(int lowfd);

/* s holds a message that vsnprintf cut short at a buffer's end: drop the
 * bytes of a UTF-8 character cut in two at its end, so that the message
 * stays valid text (and is not made all '?' by a reader that checks). */
DLP_PRIV void dlp__utf8_trim(char *s);

/* Describe a wait status ("killed by SIGSEGV", "exited with status 3"). */
DLP_PRIV void dlp__describe_status(int status, char *buf, size_t size);

/* Reap pid: wait up to grace_ms for it to exit, then SIGKILL it and wait.
 * Returns its wait status, or -1 if it was not our child. */
DLP_PRIV int dlp__reap(pid_t pid, int grace_ms);

/* Move a new descriptor above standard error (keeping close-on-exec), so
 * that a caller that closed 0, 1 or 2 never sees our descriptors taken for
 * its standard streams.  Passes negative values through. */
DLP_PRIV int dlp__fd_above_stdio(int fd);

/* Monotonic clock in nanoseconds. */
DLP_PRIV uint64_t dlp__now_ns(void);

/* Wall-clock time (CLOCK_REALTIME) in nanoseconds since the Epoch: when a
 * task started, for DLP_JOB_TIMES. */
DLP_PRIV uint64_t dlp__realtime_ns(void);

#endif /* DLPOOL_FRAMEWORK_COMMON_H */
