/*
 * fuzz_options.c - libFuzzer target for the command line of dlpool: an
 * input is cut at its NUL bytes into the arguments after "dlpool" (at most
 * MAX_ARGS of them), and the command's own main, from
 * framework/cli/main.c built into this target as dlpool_main, runs them.
 *
 * A bad option ends the process (die_usage: a message, exit 2), so each
 * input runs in a child process.  The command stops where the options
 * are done: dlp_pool_create and dlp_plugin_inspect are wrapped (ld
 * --wrap), and the wrappers check what was parsed and leave with status
 * 0.  So nothing is run, no plugin is loaded, no worker started.
 *
 * The child's coverage counters (the __sancov_cntrs section) are copied
 * back into the parent's before the child leaves, through shared memory,
 * so libFuzzer is guided by what the command did in the child as if it
 * had run in-process.
 *
 * The child is kept to itself: its working directory is a scratch
 * directory, emptied after each input, every '/' of an argument becomes
 * '_' (so a --joblog, --checkpoint or --trace file, a :::: FILE or an
 * INPUT is a name in that directory), standard input is /dev/null, and
 * DLPOOL_PLUGIN_PATH is the scratch directory.
 *
 * Properties checked (a broken one aborts, so libFuzzer keeps the input):
 *   - the child ends by exit, never by a signal or a sanitizer report,
 *     with status 0 (the options were taken, or --help, --version) or 2
 *     (usage or set-up error); libFuzzer's -malloc_limit_mb holds in the
 *     child too (its malloc hook is inherited), and a child that runs
 *     over CHILD_SECONDS is killed, which counts as a hang;
 *   - status 2 comes with one message on standard error, "dlpool: ...",
 *     ending in a newline, and nothing on standard output;
 *   - status 0 without reaching a wrapper is --help or --version: text on
 *     standard output, nothing on standard error;
 *   - options taken are within their documented ranges.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "counters.h"
#include "dlpool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
const char *__ubsan_default_options(void);
int dlpool_main(int argc, char **argv);
int __wrap_dlp_pool_create(dlp_pool **out, const dlp_pool_options *opts,
                           dlp_error *err);
int __wrap_dlp_plugin_inspect(const char *path, const char *sym, char **name,
                              unsigned *abi, dlp_inspect_fn fn, void *ud,
                              dlp_error *err);

const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

#define MAX_ARGS 64
#define CHILD_SECONDS 10


/* Shared with the children: a copy of their counters, and what the
 * wrappers saw. */
typedef struct shared {
    int reached; /* 1: dlp_pool_create, 2: dlp_plugin_inspect */
    char bad[200]; /* a broken property found in the child */
    uint8_t cntrs[];
} shared;

static shared *sh;
static uint8_t *cntrs;
static size_t ncntrs;
static char scratch[] = "/tmp/fuzz_options.XXXXXX";
static int out_fd = -1, err_fd = -1;

static void broken(const char *what, const char *out, const char *err)
{
    fprintf(stderr, "fuzz_options: broken: %s\n", what);
    if (out)
        fprintf(stderr, "  standard output: [%s]\n", out);
    if (err)
        fprintf(stderr, "  standard error: [%s]\n", err);
    abort();
}

/* Empty the scratch directory (the command makes only files there). */
static void clean_scratch(void)
{
    DIR *d = opendir(scratch);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

static void remove_scratch(void)
{
    clean_scratch();
    rmdir(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[64];
    (void)argc;
    (void)argv;
    cntrs = fuzz_counters(&ncntrs);
    sh = mmap(NULL, sizeof *sh + ncntrs, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED || !mkdtemp(scratch)) {
        perror("fuzz_options: set-up");
        exit(1);
    }
    atexit(remove_scratch);
    /* The child's standard output and error, read back after each. */
    snprintf(path, sizeof path, "%s.out", scratch);
    out_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    unlink(path);
    snprintf(path, sizeof path, "%s.err", scratch);
    err_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    unlink(path);
    if (out_fd < 0 || err_fd < 0) {
        perror("fuzz_options: set-up");
        exit(1);
    }
    return 0;
}

/* The child leaves: its output flushed, its counters handed over,
 * without the exit handlers of libFuzzer (which would take an exit for a
 * crash) or LeakSanitizer (die_usage leaves what it parsed). */
static void child_leave(int status, void *ud)
{
    (void)ud;
    fflush(NULL);
    if (ncntrs)
        memcpy(sh->cntrs, cntrs, ncntrs);
    _exit(status);
}

static void child_bad(const char *what)
{
    snprintf(sh->bad, sizeof sh->bad, "%s", what);
    child_leave(3, NULL);
}

int __wrap_dlp_pool_create(dlp_pool **out, const dlp_pool_options *o,
                           dlp_error *err)
{
    (void)out;
    (void)err;
    sh->reached = 1;
    if (o->workers > 4096)
        child_bad("-j over 4096 taken");
    if (o->memory_limit && o->memory_limit < 1 << 20)
        child_bad("--memory-limit under 1M taken");
    if (o->restart_intensity > 1000000)
        child_bad("--restarts R over 1000000 taken");
    if (!(o->restart_period >= 0 && o->restart_period <= 1e7))
        child_bad("--restarts T out of range taken");
    child_leave(0, NULL);
    return 0;
}

int __wrap_dlp_plugin_inspect(const char *path, const char *sym, char **name,
                              unsigned *abi, dlp_inspect_fn fn, void *ud,
                              dlp_error *err)
{
    (void)path, (void)sym, (void)name, (void)abi, (void)fn, (void)ud;
    (void)err;
    sh->reached = 2;
    child_leave(0, NULL);
    return 0;
}

static void run_child(char **argv, int argc)
{
    int fd = open("/dev/null", O_RDONLY);
    if (fd < 0 || dup2(fd, 0) < 0 || dup2(out_fd, 1) < 0 ||
        dup2(err_fd, 2) < 0 || chdir(scratch) ||
        setenv("DLPOOL_PLUGIN_PATH", scratch, 1))
        _exit(4);
    alarm(CHILD_SECONDS);
    /* Registered last, so it runs first at exit. */
    on_exit(child_leave, NULL);
    exit(dlpool_main(argc, argv));
}

/* The whole of descriptor fd (from its start), NUL-terminated. */
static char *slurp(int fd)
{
    off_t n = lseek(fd, 0, SEEK_END);
    char *s = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (!s)
        abort();
    if (n > 0 && pread(fd, s, (size_t)n, 0) != n)
        abort();
    s[n > 0 ? n : 0] = 0;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1), *argv[MAX_ARGS + 2], *out, *err;
    int argc = 1, status;
    size_t at = 0;
    pid_t pid;

    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = 0;
    for (size_t i = 0; i < size; i++)
        if (copy[i] == '/')
            copy[i] = '_';
    argv[0] = "dlpool";
    while (at < size && argc <= MAX_ARGS) {
        argv[argc++] = copy + at;
        at += strlen(copy + at) + 1;
    }
    argv[argc] = NULL;

    sh->reached = 0;
    sh->bad[0] = 0;
    /* Empty, and written from their start (the offset is shared). */
    if (ftruncate(out_fd, 0) || ftruncate(err_fd, 0) ||
        lseek(out_fd, 0, SEEK_SET) || lseek(err_fd, 0, SEEK_SET))
        abort();
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        perror("fuzz_options: fork");
        abort();
    }
    if (pid == 0)
        run_child(argv, argc);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            abort();
    if (ncntrs)
        memcpy(cntrs, sh->cntrs, ncntrs);
    clean_scratch();
    free(copy);

    out = slurp(out_fd);
    err = slurp(err_fd);
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "fuzz_options: the command was killed by signal %d\n",
                WTERMSIG(status));
        broken("ends by exit", out, err);
    }
    if (sh->bad[0])
        broken(sh->bad, out, err);
    switch (WEXITSTATUS(status)) {
    case 0:
        if (!sh->reached && (!out[0] || err[0]))
            broken("status 0 without the pool is --help or --version: "
                   "text on standard output only",
                   out, err);
        break;
    case 2:
        if (sh->reached)
            broken("status 2 after the options were taken", out, err);
        if (out[0])
            broken("status 2 writes nothing on standard output", out, err);
        if (strncmp(err, "dlpool: ", 8) || !err[8] ||
            err[strlen(err) - 1] != '\n')
            broken("status 2 comes with a message 'dlpool: ...' and a "
                   "newline",
                   out, err);
        break;
    default:
        fprintf(stderr, "fuzz_options: exit status %d\n",
                WEXITSTATUS(status));
        broken("exit status 0 or 2", out, err);
    }
    free(out);
    free(err);
    return 0;
}
