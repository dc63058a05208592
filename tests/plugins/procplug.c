/*
 * procplug - process functions (i32(chan)) for tests/check_process.c: the
 * seed's calculator, and functions that exit, close early, crash, block,
 * ignore their channel or write raw bytes into it.
 *
 * Linked with libdlpool for the channel and value functions.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <dlpool/plugin.h>

/* A started process holds its channel at test_channel_fd(); raw writes
 * there forge messages for the decoder tests. */
#include "chanfd.h"

/* The seed's calculator: receive [a, b], send a + b, until end of file.
 * Anything else is a protocol error of the test: exit status 2. */
static int32_t calc(dlp_chan *c)
{
    dlp_val *v;
    int rc;
    while ((rc = dlp_chan_recv(c, &v)) == 1) {
        int64_t a, b;
        if (v->kind != DLP_V_LIST || dlp_val_len(v) != 2 ||
            !dlp_val_as_int(dlp_val_at(v, 0), &a) ||
            !dlp_val_as_int(dlp_val_at(v, 1), &b)) {
            dlp_val_free(v);
            return 2;
        }
        dlp_val_free(v);
        dlp_val *sum = dlp_val_int(a + b);
        rc = dlp_chan_send(c, sum);
        dlp_val_free(sum);
        if (rc)
            return 3;
    }
    return rc == 0 ? 0 : 4;
}

/* Send every value back as it came, until end of file. */
static int32_t echo(dlp_chan *c)
{
    dlp_val *v;
    int rc;
    while ((rc = dlp_chan_recv(c, &v)) == 1) {
        rc = dlp_chan_send(c, v);
        dlp_val_free(v);
        if (rc)
            return 3;
    }
    return rc == 0 ? 0 : 4;
}

/* Receive one integer and return it: it becomes the exit status. */
static int32_t exit_with(dlp_chan *c)
{
    dlp_val *v;
    int64_t n = -1;
    if (dlp_chan_recv(c, &v) != 1)
        return 100;
    if (!dlp_val_as_int(v, &n))
        n = 101;
    dlp_val_free(v);
    return (int32_t)n;
}

/* Return at once: the caller sees end of file. */
static int32_t quit(dlp_chan *c)
{
    (void)c;
    return 0;
}

/* Send "bye" and close this end for sending, then still receive: one
 * integer, returned as the exit status. */
static int32_t half_close(dlp_chan *c)
{
    dlp_val *bye = dlp_val_cstr("bye");
    int rc = dlp_chan_send(c, bye);
    dlp_val_free(bye);
    if (rc || dlp_chan_close(c))
        return 100;
    return exit_with(c);
}

static int32_t segv(dlp_chan *c)
{
    (void)c;
    raise(SIGSEGV);
    return 0;
}

/* Block in one receive; 0 at end of file, 1 if a value came. */
static int32_t block(dlp_chan *c)
{
    dlp_val *v = NULL;
    int rc = dlp_chan_recv(c, &v);
    dlp_val_free(v);
    return rc == 0 ? 0 : 1;
}

/* Tell the caller it is running, then ignore the channel and SIGTERM:
 * only SIGKILL ends it. */
static int32_t deaf(dlp_chan *c)
{
    dlp_val *up = dlp_val_cstr("up");
    signal(SIGTERM, SIG_IGN);
    dlp_chan_send(c, up);
    dlp_val_free(up);
    for (;;)
        pause();
    return 0;
}

/* Receive bytes and write them raw into the channel, then leave: the
 * caller's decoder meets exactly those bytes, then end of file. */
static int32_t raw(dlp_chan *c)
{
    dlp_val *v;
    ssize_t n;
    if (dlp_chan_recv(c, &v) != 1)
        return 100;
    n = v->kind == DLP_V_BYTES
            ? write(test_channel_fd(), v->v.s.ptr, v->v.s.len)
            : -1;
    dlp_val_free(v);
    return n < 0 ? 101 : 0;
}

/* Print a line without a newline at the end, then return: the line must
 * still reach standard error (stdout goes there) before the exit. */
static int32_t chatty(dlp_chan *c)
{
    (void)c;
    printf("chatty was here");
    return 0;
}

/* Report the process's descriptors as a list of [fd, link] pairs, then
 * block.  Descriptors at or above the limit a program may use belong to a
 * tool running the test (valgrind keeps its own there) and are left out. */
static int32_t fds(dlp_chan *c)
{
    dlp_val *list = dlp_val_list();
    struct rlimit lim;
    int rc, top = 1024;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 1024)
        top = (int)lim.rlim_cur;
    for (int fd = 0; fd < top; fd++) {
        char path[64], link[256];
        ssize_t n;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        n = readlink(path, link, sizeof link - 1);
        if (n < 0)
            continue;
        link[n] = 0;
        dlp_val *pair = dlp_val_list();
        dlp_val_push(pair, dlp_val_int(fd));
        dlp_val_push(pair, dlp_val_cstr(link));
        dlp_val_push(list, pair);
    }
    rc = dlp_chan_send(c, list);
    dlp_val_free(list);
    return rc ? 3 : block(c);
}

/* A fini hook that leaves a mark in the file DLPOOL_TEST_FINI names. */
static void fini(void)
{
    const char *path = getenv("DLPOOL_TEST_FINI");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "fini\n");
        fclose(f);
    }
}

/* Not a process function: refused by dlp_process_start. */
static int64_t twice(int64_t v)
{
    return 2 * v;
}

DLP_PLUGIN_HOOKS("procplug", NULL, fini,
                 DLP_FN(calc, "i32(chan)"),
                 DLP_FN(echo, "i32(chan)"),
                 DLP_FN(exit_with, "i32(chan)"),
                 DLP_FN(quit, "i32(chan)"),
                 DLP_FN(half_close, "i32(chan)"),
                 DLP_FN(segv, "i32(chan)"),
                 DLP_FN(block, "i32(chan)"),
                 DLP_FN(deaf, "i32(chan)"),
                 DLP_FN(raw, "i32(chan)"),
                 DLP_FN(chatty, "i32(chan)"),
                 DLP_FN(fds, "i32(chan)"),
                 DLP_FN(twice, "i64(i64)"));
