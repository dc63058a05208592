/*
 * check_process.c - a plugin function in a process of its own with a
 * channel of values to it (Python's Process and Pipe): the seed's
 * calculator and its end-of-file trap, exit statuses, closing either end,
 * crashes, timeouts and kills, load errors, malformed messages and the
 * limits of what a channel carries.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

Suite *dlp_test_process(void);

/* ---- fixtures -------------------------------------------------------- */

/* Start procplug's function `symbol`; fails the test when it cannot. */
static dlp_process *start(const char *symbol)
{
    dlp_process *p = NULL;
    dlp_error err = {0, ""};
    int rc = dlp_process_start(&p, tu_ref(tu_plugin("procplug"), symbol),
                               NULL, &err);
    ck_assert_msg(rc == 0, "starting procplug:%s: expected success, got %d "
                           "(%s): %s",
                  symbol, rc, dlp_strerror(rc), err.msg);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_gt(dlp_process_pid(p), 0);
    return p;
}

static void send_val(dlp_process *p, dlp_val *v)
{
    int rc;
    ck_assert_ptr_nonnull(v);
    rc = dlp_chan_send(dlp_process_chan(p), v);
    dlp_val_free(v);
    ck_assert_msg(rc == 0, "dlp_chan_send: expected 0, got %d (%s)", rc,
                  dlp_strerror(rc));
}

static void send_int(dlp_process *p, int64_t n)
{
    send_val(p, dlp_val_int(n));
}

static void send_pair(dlp_process *p, int64_t a, int64_t b)
{
    dlp_val *l = dlp_val_list();
    ck_assert_int_eq(dlp_val_push(l, dlp_val_int(a)), 0);
    ck_assert_int_eq(dlp_val_push(l, dlp_val_int(b)), 0);
    send_val(p, l);
}

/* Receive one value (new); fails the test unless one comes. */
static dlp_val *recv_val(dlp_process *p)
{
    dlp_val *v = NULL;
    int rc = dlp_chan_recv(dlp_process_chan(p), &v);
    ck_assert_msg(rc == 1, "dlp_chan_recv: expected a value (1), got %d (%s)",
                  rc, dlp_strerror(rc));
    ck_assert_ptr_nonnull(v);
    return v;
}

static int64_t recv_int(dlp_process *p)
{
    dlp_val *v = recv_val(p);
    int64_t n = 0;
    ck_assert_msg(dlp_val_as_int(v, &n), "expected an int, got a %s",
                  dlp_val_kind_name(v->kind));
    dlp_val_free(v);
    return n;
}

static void recv_eof(dlp_process *p)
{
    dlp_val *v = NULL;
    int rc = dlp_chan_recv(dlp_process_chan(p), &v);
    ck_assert_msg(rc == 0, "dlp_chan_recv: expected end of file (0), got %d "
                           "(%s)",
                  rc, dlp_strerror(rc));
    ck_assert_ptr_null(v);
}

/* Join without a time limit; returns the wait status. */
static int join(dlp_process *p)
{
    dlp_error err = {0, ""};
    int st = -1, rc = dlp_process_join(p, -1, &st, &err);
    tu_ok(rc, err);
    return st;
}

/* Join and expect a normal exit with status want. */
static void join_exit(dlp_process *p, int want)
{
    int st = join(p);
    ck_assert_msg(WIFEXITED(st), "expected the process to exit, wait status "
                                 "%#x",
                  (unsigned)st);
    ck_assert_int_eq(WEXITSTATUS(st), want);
}

/* Expect dlp_process_start(ref) to fail with code want, leaving no
 * process and a message that contains part1 and part2 (either may be
 * NULL). */
static void start_fails(const char *ref, const char *plugin_path, int want,
                        const char *part1, const char *part2)
{
    int fds = tu_fd_count();
    dlp_process *p = (dlp_process *)&fds; /* must be set to NULL */
    dlp_error err = {0, ""};
    int rc = dlp_process_start(&p, ref, plugin_path, &err);
    ck_assert_msg(rc == want,
                  "starting '%s': expected %d (%s), got %d (%s): %s", ref,
                  want, dlp_strerror(want), rc, dlp_strerror(rc), err.msg);
    ck_assert_int_eq(err.code, want);
    ck_assert_ptr_null(p);
    if (part1)
        tu_assert_has(err.msg, part1);
    if (part2)
        tu_assert_has(err.msg, part2);
    tu_assert_clean(fds);
}

/* A template for mkstemp in the temporary directory. */
static void temp_template(char *buf, size_t size, const char *what)
{
    const char *dir = getenv("TMPDIR");
    snprintf(buf, size, "%s/dlpool-check-%s-XXXXXX",
             dir && *dir ? dir : "/tmp", what);
}

/* The contents of a small file, NUL-terminated, into buf. */
static void read_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    ck_assert_msg(fd >= 0, "cannot open %s: %s", path, strerror(errno));
    n = read(fd, buf, size - 1);
    ck_assert_msg(n >= 0, "cannot read %s: %s", path, strerror(errno));
    buf[n] = 0;
    close(fd);
}

/* ---- core: the seed's examples ---------------------------------------- */

/* The seed's calculator: three pairs in, three sums out; closing the
 * caller's end is end of file for the function, which returns 0. */
START_TEST(test_calculator)
{
    int fds = tu_fd_count();
    dlp_process *p = start("calc");
    dlp_error err = {0, ""};
    int st1 = -1, st2 = -1, rc;

    send_pair(p, 1, 2);
    send_pair(p, 1, 3);
    send_pair(p, 1, 4);
    ck_assert_int_eq(recv_int(p), 3);
    ck_assert_int_eq(recv_int(p), 4);
    ck_assert_int_eq(recv_int(p), 5);
    ck_assert_int_eq(dlp_chan_close(dlp_process_chan(p)), 0);
    join_exit(p, 0);
    ck_assert_int_eq(dlp_process_alive(p), 0);
    /* Once it has ended, join is idempotent: the same status, at once. */
    rc = dlp_process_join(p, 0, &st1, &err);
    tu_ok(rc, err);
    rc = dlp_process_join(p, -1, &st2, &err);
    tu_ok(rc, err);
    ck_assert_int_eq(st1, st2);
    /* NaN is no number of seconds: refused, not taken for "no limit". */
    rc = dlp_process_join(p, NAN, &st2, &err);
    ck_assert_msg(rc == DLP_EINVAL, "join with a NaN timeout: expected "
                  "DLP_EINVAL (%d), got %d", DLP_EINVAL, rc);
    tu_assert_has(err.msg, "NaN");
    ck_assert_msg(WIFEXITED(st1) && WEXITSTATUS(st1) == 0,
                  "expected exit status 0 again, wait status %#x",
                  (unsigned)st1);
    /* Its end closed when it exited. */
    recv_eof(p);
    dlp_process_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* The seed's hang: a process started later inherits the caller's end of
 * the first one's pipe, so closing it never reaches the first.  Here the
 * second process holds 0, 1, 2 and its own channel only, and closing the
 * first channel ends the first process while the second still runs. */
START_TEST(test_inherited_pipe_trap)
{
    int fds = tu_fd_count();
    dlp_process *a = start("calc");
    dlp_process *b = start("fds");
    dlp_val *list = recv_val(b);
    dlp_error err = {0, ""};
    int st = -1, rc, have_chan = 0, chan = tu_channel_fd();

    for (size_t i = 0; i < dlp_val_len(list); i++) {
        const dlp_val *pair = dlp_val_at(list, i);
        int64_t fd = -1;
        const char *link = dlp_val_at(pair, 1)->v.s.ptr;
        dlp_val_as_int(dlp_val_at(pair, 0), &fd);
        ck_assert_msg(fd <= 2 || fd == chan,
                      "the second process holds descriptor %lld (%s): "
                      "expected only 0-2 and its channel at %d",
                      (long long)fd, link, chan);
        if (fd == 0)
            ck_assert_str_eq(link, "/dev/null");
        if (fd == chan) {
            have_chan = 1;
            ck_assert_msg(strncmp(link, "socket:", 7) == 0,
                          "expected its channel, a socket, at descriptor "
                          "%d, found %s",
                          chan, link);
        }
    }
    ck_assert_msg(have_chan,
                  "the second process has no channel at descriptor %d", chan);
    dlp_val_free(list);

    send_pair(a, 20, 22);
    ck_assert_int_eq(recv_int(a), 42);
    ck_assert_int_eq(dlp_chan_close(dlp_process_chan(a)), 0);
    /* Generous: end of file arrives at once or never. */
    rc = dlp_process_join(a, 20, &st, &err);
    ck_assert_msg(rc == 0,
                  "expected the first process to end at end of file while "
                  "the second runs, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "expected exit status 0, wait status %#x", (unsigned)st);
    ck_assert_int_eq(dlp_process_alive(b), 1);
    dlp_process_destroy(a);
    dlp_process_destroy(b);
    tu_assert_clean(fds);
}
END_TEST

/* The function's return value, & 255, is the exit status. */
static const int64_t exit_values[][2] = {{0, 0}, {7, 7}, {255, 255},
                                         {300, 44}, {-1, 255}};

START_TEST(test_exit_status)
{
    int fds = tu_fd_count();
    dlp_process *p = start("exit_with");
    send_int(p, exit_values[_i][0]);
    recv_eof(p);
    join_exit(p, (int)exit_values[_i][1]);
    dlp_process_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* The function closes its end for sending: the caller reads what was sent
 * before, then end of file, while the function still runs and receives. */
START_TEST(test_half_close)
{
    int fds = tu_fd_count();
    dlp_process *p = start("half_close");
    dlp_val *v = recv_val(p);
    ck_assert_int_eq(v->kind, DLP_V_STR);
    ck_assert_str_eq(v->v.s.ptr, "bye");
    dlp_val_free(v);
    recv_eof(p);
    ck_assert_int_eq(dlp_process_alive(p), 1);
    send_int(p, 9);
    join_exit(p, 9);
    dlp_process_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* The function returns first: the caller reads end of file, and a send to
 * the ended process is -EPIPE, not a SIGPIPE that kills the caller. */
START_TEST(test_child_ends_first)
{
    int fds = tu_fd_count();
    dlp_process *p = start("quit");
    dlp_val *v = dlp_val_int(1);
    int rc;

    /* The default disposition, so a SIGPIPE would end this test. */
    signal(SIGPIPE, SIG_DFL);
    recv_eof(p);
    join_exit(p, 0);
    rc = dlp_chan_send(dlp_process_chan(p), v);
    ck_assert_msg(rc == -EPIPE,
                  "sending to an ended process: expected -EPIPE, got %d (%s)",
                  rc, dlp_strerror(rc));
    /* Again: nothing changes. */
    rc = dlp_chan_send(dlp_process_chan(p), v);
    ck_assert_int_eq(rc, -EPIPE);
    dlp_val_free(v);
    dlp_process_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* The plugin's fini hook runs when the function returns, and what it
 * printed without a newline still reaches standard error (standard output
 * goes there). */
START_TEST(test_fini_and_output)
{
    int fds = tu_fd_count();
    char fini[4096], errf[4096], buf[256];
    int ffd, efd, saved;
    dlp_process *p;

    temp_template(fini, sizeof fini, "fini");
    temp_template(errf, sizeof errf, "stderr");
    ffd = mkstemp(fini);
    efd = mkstemp(errf);
    ck_assert_msg(ffd >= 0 && efd >= 0, "mkstemp: %s", strerror(errno));
    close(ffd);
    ck_assert_int_eq(setenv("DLPOOL_TEST_FINI", fini, 1), 0);
    fflush(stderr);
    saved = dup(2);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_eq(dup2(efd, 2), 2);
    p = start("chatty");
    dup2(saved, 2);
    close(saved);
    close(efd);
    unsetenv("DLPOOL_TEST_FINI");
    join_exit(p, 0);
    dlp_process_destroy(p);

    read_file(fini, buf, sizeof buf);
    ck_assert_str_eq(buf, "fini\n");
    read_file(errf, buf, sizeof buf);
    ck_assert_str_eq(buf, "chatty was here");
    unlink(fini);
    unlink(errf);
    tu_assert_clean(fds);
}
END_TEST

/* The plugin is found on the given plugin path by its bare name. */
START_TEST(test_plugin_path)
{
    int fds = tu_fd_count();
    char dir[4096];
    dlp_process *p = NULL;
    dlp_error err = {0, ""};
    char *slash;
    int rc;

    snprintf(dir, sizeof dir, "%s", tu_plugin("procplug"));
    slash = strrchr(dir, '/');
    ck_assert_ptr_nonnull(slash);
    *slash = 0;
    rc = dlp_process_start(&p, "procplug:exit_with", dir, &err);
    tu_ok(rc, err);
    send_int(p, 3);
    join_exit(p, 3);
    dlp_process_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* When the caller's process dies without destroying anything, its end of
 * the channel closes: a function waiting in dlp_chan_recv reads end of
 * file and returns 0.  This test process becomes a subreaper so the
 * orphaned process is reparented to it and its exit can be read. */
START_TEST(test_caller_dies)
{
    int fds = tu_fd_count();
    int pipefd[2], st = -1;
    pid_t mid, orphan = 0;

    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
    mid = fork();
    ck_assert_int_ge(mid, 0);
    if (mid == 0) {
        dlp_process *p = NULL;
        pid_t pid;
        if (dlp_process_start(&p, tu_ref(tu_plugin("procplug"), "block"),
                              NULL, NULL))
            _exit(1);
        pid = dlp_process_pid(p);
        _exit(write(pipefd[1], &pid, sizeof pid) == sizeof pid ? 0 : 2);
    }
    close(pipefd[1]);
    ck_assert_int_eq(waitpid(mid, &st, 0), mid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "the intermediate process failed, wait status %#x",
                  (unsigned)st);
    ck_assert_int_eq(read(pipefd[0], &orphan, sizeof orphan),
                     (ssize_t)sizeof orphan);
    close(pipefd[0]);
    /* The tcase's timeout catches an orphan that never leaves. */
    ck_assert_int_eq(waitpid(orphan, &st, 0), orphan);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "expected the orphan to read end of file and exit 0, "
                  "wait status %#x",
                  (unsigned)st);
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), 0);
    tu_assert_clean(fds);
}
END_TEST

/* ---- errors: nothing starts, nothing is left ---------------------------- */

START_TEST(test_missing_plugin)
{
    start_fails("/nonexistent/nope.so:calc", NULL, DLP_ENOPLUGIN,
                "/nonexistent/nope.so", NULL);
    /* A bare name searched on the plugin path and not found. */
    start_fails("no_such_dlpool_plugin:calc", "/nonexistent", DLP_ENOPLUGIN,
                "no_such_dlpool_plugin", NULL);
}
END_TEST

START_TEST(test_missing_symbol)
{
    start_fails(tu_ref(tu_plugin("procplug"), "no_such_fn"), NULL, DLP_ENOSYM,
                "procplug.so", "no_such_fn");
}
END_TEST

/* Only i32(chan) is a process function; err names the signature. */
START_TEST(test_wrong_signature)
{
    start_fails(tu_ref(tu_plugin("testplug"), "sleepy"), NULL, DLP_ESIG,
                "sleepy", "i64(i64,i64)");
    start_fails(tu_ref(tu_plugin("procplug"), "twice"), NULL, DLP_ESIG,
                "procplug.so", "i64(i64)");
}
END_TEST

/* A plain shared library has no manifest to say a symbol takes a
 * channel: refused, naming the symbol. */
START_TEST(test_no_manifest)
{
    start_fails("libm.so.6:cos", NULL, DLP_ENOSIG, "libm.so.6", "'cos'");
}
END_TEST

START_TEST(test_init_fails)
{
    start_fails(tu_ref(tu_plugin("badinit"), "never"), NULL, DLP_EINIT,
                "badinit.so", "init hook returned 7");
}
END_TEST

/* The process dies while loading: the signal and the plugin are named. */
START_TEST(test_crash_while_loading)
{
    start_fails(tu_ref(tu_plugin("crashload"), "never"), NULL, DLP_ENOPLUGIN,
                "crashload.so", "killed by SIGSEGV");
}
END_TEST

static const char *const not_refs[] = {"nocolon", ":calc", "procplug:", ""};

START_TEST(test_not_a_ref)
{
    start_fails(not_refs[_i], NULL, DLP_EINVAL, "PLUGIN:SYMBOL", NULL);
}
END_TEST

START_TEST(test_null_args)
{
    dlp_process *p = NULL;
    dlp_val *v = (dlp_val *)&p;
    dlp_error err = {0, ""};
    int st = 0;
    ck_assert_int_eq(dlp_process_start(NULL, "a:b", NULL, &err), DLP_EINVAL);
    ck_assert_int_eq(dlp_process_start(&p, NULL, NULL, NULL), DLP_EINVAL);
    ck_assert_ptr_null(p);
    ck_assert_ptr_null(dlp_process_chan(NULL));
    ck_assert_int_eq(dlp_process_pid(NULL), -1);
    ck_assert_int_eq(dlp_process_alive(NULL), 0);
    ck_assert_int_eq(dlp_process_kill(NULL, SIGTERM), DLP_EINVAL);
    ck_assert_int_eq(dlp_process_join(NULL, 0, &st, &err), DLP_EINVAL);
    ck_assert_int_eq(dlp_chan_send(NULL, NULL), DLP_EINVAL);
    ck_assert_int_eq(dlp_chan_recv(NULL, &v), DLP_EINVAL);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(dlp_chan_close(NULL), 0);
    dlp_process_destroy(NULL);
}
END_TEST

/* ---- crash: crashes, timeouts, kills ------------------------------------ */

/* A crash is a signal in the wait status; the caller's recv ends. */
START_TEST(test_crash)
{
    int fds = tu_fd_count();
    dlp_process *p = start("segv");
    dlp_val *v = NULL;
    int rc = dlp_chan_recv(dlp_process_chan(p), &v);
    int st;
    ck_assert_msg(rc <= 0, "expected end of file or an error from a crashed "
                           "process, got %d",
                  rc);
    ck_assert_ptr_null(v);
    st = join(p);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
                  "expected death by SIGSEGV, wait status %#x", (unsigned)st);
    dlp_process_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* join with a time limit on a process blocked in recv: -ETIMEDOUT and the
 * process untouched; destroy then ends it (end of file) and reaps it. */
START_TEST(test_join_timeout)
{
    int fds = tu_fd_count();
    dlp_process *p = start("block");
    dlp_error err = {0, ""};
    int st = 12345, rc;

    rc = dlp_process_join(p, 0.05, &st, &err);
    ck_assert_msg(rc == -ETIMEDOUT,
                  "joining a blocked process: expected -ETIMEDOUT, got %d "
                  "(%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    tu_assert_has(err.msg, "still running");
    ck_assert_int_eq(st, 12345);
    rc = dlp_process_join(p, 0, &st, &err);
    ck_assert_int_eq(rc, -ETIMEDOUT);
    ck_assert_int_eq(dlp_process_alive(p), 1);
    dlp_process_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* SIGTERM (Python's terminate) ends a process; a kill after the end sends
 * nothing and succeeds. */
START_TEST(test_terminate)
{
    int fds = tu_fd_count();
    dlp_process *p = start("block");
    int st;
    ck_assert_int_eq(dlp_process_kill(p, SIGTERM), 0);
    st = join(p);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
                  "expected death by SIGTERM, wait status %#x", (unsigned)st);
    ck_assert_int_eq(dlp_process_alive(p), 0);
    ck_assert_int_eq(dlp_process_kill(p, SIGKILL), 0);
    ck_assert_int_eq(dlp_process_kill(p, 0), DLP_EINVAL);
    ck_assert_int_eq(dlp_process_kill(p, 100000), DLP_EINVAL);
    dlp_process_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

static void *join_thread(void *arg)
{
    int st = -1;
    int rc = dlp_process_join(arg, -1, &st, NULL);
    return (void *)(intptr_t)(rc == 0 ? st : -1);
}

/* Two threads wait in join while a third terminates the process: both
 * get its status, and the process is reaped once. */
START_TEST(test_join_from_threads)
{
    int fds = tu_fd_count();
    dlp_process *p = start("block");
    pthread_t t[2];
    void *res;

    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, join_thread, p), 0);
    ck_assert_int_eq(dlp_process_kill(p, SIGTERM), 0);
    for (int i = 0; i < 2; i++) {
        int st;
        ck_assert_int_eq(pthread_join(t[i], &res), 0);
        st = (int)(intptr_t)res;
        ck_assert_msg(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
                      "thread %d: expected death by SIGTERM, join gave %#x",
                      i, (unsigned)st);
    }
    dlp_process_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* A process that ignores its channel and SIGTERM: destroy kills it after
 * its grace and never hangs (the tcase's timeout catches a hang). */
START_TEST(test_destroy_deaf)
{
    int fds = tu_fd_count();
    dlp_process *p = start("deaf");
    dlp_val *v = recv_val(p); /* it runs, with SIGTERM ignored */
    dlp_error err = {0, ""};
    int rc;
    dlp_val_free(v);
    ck_assert_int_eq(dlp_process_kill(p, SIGTERM), 0);
    rc = dlp_process_join(p, 0.05, NULL, &err);
    ck_assert_msg(rc == -ETIMEDOUT,
                  "a process that ignores SIGTERM: expected -ETIMEDOUT, got "
                  "%d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    dlp_process_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* ---- limits: what a channel carries, and what it refuses --------------- */

/* A 10 MiB string, a list nested DLP_VAL_MAX_DEPTH deep and a map of
 * every kind go there and back unchanged; one level deeper is refused
 * before anything is sent, and the channel goes on. */
START_TEST(test_large_and_nested)
{
    int fds = tu_fd_count();
    dlp_process *p = start("echo");
    size_t big = 10u << 20;
    char *s = malloc(big);
    dlp_val *v, *back, *deep, *inner;
    int rc;

    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < big; i++)
        s[i] = (char)('a' + i % 26);
    v = dlp_val_str(s, big);
    free(s);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(dlp_chan_send(dlp_process_chan(p), v), 0);
    back = recv_val(p);
    ck_assert_msg(dlp_val_equal(v, back),
                  "expected the 10 MiB string back unchanged (%zu bytes "
                  "came back)",
                  back->kind == DLP_V_STR ? back->v.s.len : (size_t)0);
    dlp_val_free(back);
    dlp_val_free(v);

    /* deep: DLP_VAL_MAX_DEPTH lists, one in the other, around an int. */
    deep = dlp_val_int(64);
    for (int d = 1; d < DLP_VAL_MAX_DEPTH; d++) {
        inner = deep;
        deep = dlp_val_list();
        ck_assert_int_eq(dlp_val_push(deep, inner), 0);
    }
    ck_assert_int_eq(dlp_chan_send(dlp_process_chan(p), deep), 0);
    back = recv_val(p);
    ck_assert_msg(dlp_val_equal(deep, back),
                  "expected the list %d deep back unchanged",
                  DLP_VAL_MAX_DEPTH);
    dlp_val_free(back);
    inner = deep;
    deep = dlp_val_list();
    ck_assert_int_eq(dlp_val_push(deep, inner), 0);
    rc = dlp_chan_send(dlp_process_chan(p), deep);
    ck_assert_msg(rc == DLP_ETOOBIG,
                  "a value %d deep: expected DLP_ETOOBIG, got %d (%s)",
                  DLP_VAL_MAX_DEPTH + 1, rc, dlp_strerror(rc));
    dlp_val_free(deep);

    v = dlp_val_map();
    ck_assert_int_eq(dlp_val_set(v, "null", dlp_val_null()), 0);
    ck_assert_int_eq(dlp_val_set(v, "t", dlp_val_bool(true)), 0);
    ck_assert_int_eq(dlp_val_set(v, "min", dlp_val_int(INT64_MIN)), 0);
    ck_assert_int_eq(dlp_val_set(v, "max", dlp_val_uint(UINT64_MAX)), 0);
    ck_assert_int_eq(dlp_val_set(v, "f", dlp_val_float(-0.5)), 0);
    ck_assert_int_eq(dlp_val_set(v, "b", dlp_val_bytes("\0\1\2", 3)), 0);
    ck_assert_int_eq(dlp_val_set(v, "empty", dlp_val_list()), 0);
    ck_assert_int_eq(dlp_val_set(v, "", dlp_val_str("", 0)), 0);
    ck_assert_int_eq(dlp_chan_send(dlp_process_chan(p), v), 0);
    back = recv_val(p);
    ck_assert_msg(dlp_val_equal(v, back),
                  "expected the map of every kind back unchanged");
    dlp_val_free(back);
    dlp_val_free(v);

    /* NULL sends null, as the wire form has it. */
    ck_assert_int_eq(dlp_chan_send(dlp_process_chan(p), NULL), 0);
    back = recv_val(p);
    ck_assert_int_eq(back->kind, DLP_V_NULL);
    dlp_val_free(back);

    ck_assert_int_eq(dlp_chan_close(dlp_process_chan(p)), 0);
    recv_eof(p);
    join_exit(p, 0);
    dlp_process_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* Raw byte streams a peer may send, each followed by end of file.
 * `valid` complete values come first; then recv must say DLP_EPROTO, and
 * keep saying it. */
typedef struct garbage {
    const char *what;
    const char *bytes;
    size_t len;
    unsigned valid;
} garbage;

#define G(what, lit, valid) {what, lit, sizeof lit - 1, valid}

static const garbage garbages[] = {
    G("a length cut short", "\x05\x00", 0),
    G("a zero length", "\x00\x00\x00\x00", 0),
    G("a length over 1 GiB", "\x01\x00\x00\x40\x00", 0),
    G("4 GiB claimed", "\xff\xff\xff\xff\x00", 0),
    /* 1 GiB claimed, 3 bytes sent: memory follows the bytes, not the
     * claim. */
    G("1 GiB claimed, 3 bytes sent", "\x00\x00\x00\x40\x08\x00\x00", 0),
    G("an unknown tag", "\x01\x00\x00\x00\xee", 0),
    G("a trailing byte", "\x02\x00\x00\x00\x00\x00", 0),
    G("an int cut short", "\x03\x00\x00\x00\x03\x01\x02", 0),
    G("a uint that fits an int",
      "\x09\x00\x00\x00\x04\x05\x00\x00\x00\x00\x00\x00\x00", 0),
    G("a list claiming 1000 items",
      "\x06\x00\x00\x00\x08\xe8\x03\x00\x00\x00", 0),
    G("a string longer than its message",
      "\x07\x00\x00\x00\x06\x10\x00\x00\x00" "ab", 0),
    G("a map key with a NUL",
      "\x0c\x00\x00\x00\x09\x01\x00\x00\x00\x02\x00\x00\x00" "k\x00\x00", 0),
    G("a valid value, then a truncated one",
      "\x01\x00\x00\x00\x02" "\x09\x00\x00\x00\x03", 1),
};

START_TEST(test_malformed)
{
    const garbage *g = &garbages[_i];
    int fds = tu_fd_count();
    dlp_process *p = start("raw");
    dlp_val *v = NULL;
    int rc;

    send_val(p, dlp_val_bytes(g->bytes, g->len));
    for (unsigned k = 0; k < g->valid; k++)
        dlp_val_free(recv_val(p));
    rc = dlp_chan_recv(dlp_process_chan(p), &v);
    ck_assert_msg(rc == DLP_EPROTO,
                  "%s: expected DLP_EPROTO, got %d (%s)", g->what, rc,
                  dlp_strerror(rc));
    ck_assert_ptr_null(v);
    /* The stream has lost its place: nothing after it is read. */
    rc = dlp_chan_recv(dlp_process_chan(p), &v);
    ck_assert_msg(rc == DLP_EPROTO,
                  "%s, read again: expected DLP_EPROTO, got %d (%s)", g->what,
                  rc, dlp_strerror(rc));
    join_exit(p, 0);
    dlp_process_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* A deeper nesting than any sender makes is refused by the decoder: 65
 * lists, one in the other, around a null. */
START_TEST(test_malformed_deep)
{
    int fds = tu_fd_count();
    dlp_process *p = start("raw");
    enum { D = DLP_VAL_MAX_DEPTH + 1 };
    unsigned char msg[4 + 5 * D + 1];
    uint32_t len = 5 * D + 1, one = 1;
    dlp_val *v = NULL;
    int rc;

    memcpy(msg, &len, 4);
    for (int d = 0; d < D; d++) {
        msg[4 + 5 * d] = 8; /* list */
        memcpy(msg + 4 + 5 * d + 1, &one, 4);
    }
    msg[4 + 5 * D] = 0; /* null */
    send_val(p, dlp_val_bytes(msg, sizeof msg));
    rc = dlp_chan_recv(dlp_process_chan(p), &v);
    ck_assert_msg(rc == DLP_EPROTO,
                  "a message nested %d deep: expected DLP_EPROTO, got %d "
                  "(%s)",
                  D, rc, dlp_strerror(rc));
    ck_assert_ptr_null(v);
    join_exit(p, 0);
    dlp_process_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* The body of test_claim_not_allocated, in a process of its own (the
 * limit must not outlive it): an exit status says what happened. */
static int claim_under_limit(void)
{
    static const char claim[] = "\x00\x00\x00\x40\x08\x00\x00";
    unsigned long pages = 0;
    struct rlimit rl;
    dlp_process *p = NULL;
    dlp_val *v = NULL;
    void *probe;
    FILE *f = fopen("/proc/self/statm", "re");
    int rc;

    if (!f || fscanf(f, "%lu", &pages) != 1)
        return 10;
    fclose(f);
    rl.rlim_cur = rl.rlim_max =
        (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (256u << 20);
    if (setrlimit(RLIMIT_AS, &rl))
        return 11;
    /* The limit must bite, or this test could not fail. */
    if ((probe = malloc((size_t)1 << 30))) {
        free(probe);
        return 12;
    }
    if (dlp_process_start(&p, tu_ref(tu_plugin("procplug"), "raw"), NULL,
                          NULL))
        return 13;
    v = dlp_val_bytes(claim, sizeof claim - 1);
    if (!v || dlp_chan_send(dlp_process_chan(p), v))
        return 14;
    dlp_val_free(v);
    v = NULL;
    rc = dlp_chan_recv(dlp_process_chan(p), &v);
    dlp_process_destroy(p);
    return rc == DLP_EPROTO ? 0 : rc == -ENOMEM ? 15 : 16;
}

/* A peer that claims a 1 GiB message and sends 3 bytes costs memory for
 * the bytes that came, not for the claim: under an address-space limit
 * 256 MiB above what the test uses, recv says DLP_EPROTO, not -ENOMEM. */
START_TEST(test_claim_not_allocated)
{
    int fds = tu_fd_count();
    int st = -1;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(claim_under_limit());
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "expected DLP_EPROTO under the limit; wait status %#x "
                  "(exit 12: the limit did not bite, 15: -ENOMEM, 16: "
                  "another code)",
                  (unsigned)st);
    tu_assert_clean(fds);
}
END_TEST

/* RLIMIT_AS does not mix with AddressSanitizer (it reserves terabytes of
 * shadow memory) nor with valgrind (its own mappings count): make check
 * exports the sanitizer flags of the build, and valgrind preloads its
 * own library. */
static const char *no_memory_limit(void)
{
    const char *s = getenv("SAN_CFLAGS"), *pre = getenv("LD_PRELOAD");
    if (s && *s)
        return "AddressSanitizer";
    if (pre && strstr(pre, "vgpreload"))
        return "valgrind";
    return NULL;
}

Suite *dlp_test_process(void)
{
    Suite *s = suite_create("process");
    TCase *tc;

    tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_calculator);
    tcase_add_test(tc, test_inherited_pipe_trap);
    tcase_add_loop_test(tc, test_exit_status, 0,
                        sizeof exit_values / sizeof exit_values[0]);
    tcase_add_test(tc, test_half_close);
    tcase_add_test(tc, test_child_ends_first);
    tcase_add_test(tc, test_fini_and_output);
    tcase_add_test(tc, test_plugin_path);
    tcase_add_test(tc, test_caller_dies);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_missing_plugin);
    tcase_add_test(tc, test_missing_symbol);
    tcase_add_test(tc, test_wrong_signature);
    tcase_add_test(tc, test_no_manifest);
    tcase_add_test(tc, test_init_fails);
    tcase_add_test(tc, test_crash_while_loading);
    tcase_add_loop_test(tc, test_not_a_ref, 0,
                        sizeof not_refs / sizeof not_refs[0]);
    tcase_add_test(tc, test_null_args);
    suite_add_tcase(s, tc);

    tc = tcase_create("crash");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_crash);
    tcase_add_test(tc, test_join_timeout);
    tcase_add_test(tc, test_terminate);
    tcase_add_test(tc, test_join_from_threads);
    tcase_add_test(tc, test_destroy_deaf);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_large_and_nested);
    tcase_add_loop_test(tc, test_malformed, 0,
                        sizeof garbages / sizeof garbages[0]);
    tcase_add_test(tc, test_malformed_deep);
    if (no_memory_limit())
        printf("process: skipping test_claim_not_allocated: RLIMIT_AS "
               "cannot be used under %s\n",
               no_memory_limit());
    else
        tcase_add_test(tc, test_claim_not_allocated);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(dlp_test_process)
