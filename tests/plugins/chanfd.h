/*
 * chanfd.h - where a worker or a started process holds its channel:
 * descriptor 1023, or the highest below the soft RLIMIT_NOFILE
 * (framework/worker.h, DLP_CHANNEL_FD_MAX and dlp__channel_fd; change
 * them together).  For tests that write to it or check it by number; a
 * header so that test plugins, which link nothing of the tests, share it.
 */
#ifndef DLPOOL_TESTS_PLUGINS_CHANFD_H
#define DLPOOL_TESTS_PLUGINS_CHANFD_H

#include <sys/resource.h>

static inline int test_channel_fd(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        lim.rlim_cur <= 1023)
        return lim.rlim_cur > 4 ? (int)lim.rlim_cur - 1 : 3;
    return 1023;
}

#endif
