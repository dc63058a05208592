/*
 * say.c - part of the dlpool command (framework/cli/main.c): its own
 * words on its standard streams.  See say.h.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlpool.h"
#include "say.h"
#include "text.h"

/* "dlpool: MSG" on standard error, and "dlpool: WHAT: MSG": a message may
 * carry a plugin's words or a file's name, so its control characters are
 * escaped (text.h) rather than obeyed by a terminal. */
void say2(const char *what, const char *msg)
{
    fprintf(stderr, "%s: ", PROG);
    if (what)
        fprintf(stderr, "%s: ", what);
    text_put_escaped(stderr, msg);
    fputc('\n', stderr);
}

void say(const char *msg)
{
    say2(NULL, msg);
}

void usage(FILE *to)
{
    /* One screen: at most 24 lines of 80 columns, common options first
     * (the installed plugin directory, on a line of its own, is as long
     * as the prefix makes it). */
    fprintf(to,
            "Usage: dlpool run [OPTIONS] PLUGIN:FUNCTION [INPUT | ::: ARG... "
            "| :::: FILE]\n"
            "       dlpool inspect [--json] PLUGIN\n"
            "       dlpool --help | --version\n"
            "\n"
            "Map FUNCTION over JSON Lines in a pool of worker processes: each "
            "line of\n"
            "INPUT (default: standard input) is a task, a JSON array of its "
            "arguments (a\n"
            "bare value for one argument); each result is a JSON line, in "
            "input order.\n"
            "::: gives the arguments on the command line instead, one source "
            "per\n"
            "argument: each combination is a task, as in GNU parallel.\n"
            "\n"
            "  -j, --jobs N        worker processes (default: online CPUs)\n"
            "      --progress      progress on stderr (default if a terminal; "
            "--no-progress)\n"
            "      --unordered     print results as they finish\n"
            "      --timeout S     fail a task running over S seconds\n"
            "      --retries N     rerun a task whose worker died, up to N "
            "times\n"
            "      --halt POLICY   never | now,fail=N | soon,fail=N\n"
            "      --sig SIG       signature of a function with no manifest "
            "entry\n"
            "      --checkpoint FILE, --records, --joblog FILE, --trace FILE, "
            "--restarts R/T\n"
            "      --max-tasks-per-worker N, --memory-limit SIZE, "
            "--max-line-length SIZE\n"
            "PLUGIN: a path (with a '/'), or a name found in "
            "DLPOOL_PLUGIN_PATH, then in\n"
            "  %s\n"
            "then in the system's library path.\n"
            "Exit status: 0 all tasks succeeded, 1 some failed (or --halt), "
            "2 usage or\n"
            "set-up error, 130/143 SIGINT/SIGTERM, 141 output's reader gone.  "
            "See "
            "dlpool(1).\n",
            DLP_PLUGINDIR);
}

/* "dlpool: MESSAGE" and tail on standard error, for the two exits of a
 * set-up error.  The message quotes what the command line gave (an
 * option's value, a source's word), so it is escaped as say2's are. */
static void say_setup(const char *tail, const char *fmt, va_list ap)
{
    char *msg;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    fprintf(stderr, "%s: ", PROG);
    text_put_escaped(stderr, msg ? msg : "out of memory saying why");
    fputs(tail, stderr);
    free(msg);
}

void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say_setup("\nTry 'dlpool --help'.\n", fmt, ap);
    va_end(ap);
    exit(EXIT_SETUP);
}

void die_setup(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say_setup("\n", fmt, ap);
    va_end(ap);
    exit(EXIT_SETUP);
}

int stdout_written(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    fprintf(stderr, "%s: writing to standard output: %s\n", PROG,
            strerror(errno));
    return EXIT_SETUP;
}
