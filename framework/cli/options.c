/*
 * options.c - part of the dlpool command (framework/cli/main.c): the
 * command line of `dlpool run`.  See options.h.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "dlpool.h"
#include "options.h"
#include "reader.h"
#include "say.h"
#include "sources.h"

static void parse_halt(const char *arg, int *when, uint64_t *fails)
{
    const char *rest;
    char *end;
    if (!strcmp(arg, "never")) {
        *when = HALT_NEVER;
        return;
    }
    if (!strncmp(arg, "now,", 4))
        *when = HALT_NOW, rest = arg + 4;
    else if (!strncmp(arg, "soon,", 5))
        *when = HALT_SOON, rest = arg + 5;
    else
        die_usage("--halt: expected never, now,fail=N or soon,fail=N, got "
                  "'%s'",
                  arg);
    if (strncmp(rest, "fail=", 5))
        die_usage("--halt: expected fail=N after '%.*s', got '%s'",
                  (int)(rest - arg), arg, rest);
    errno = 0;
    unsigned long long n = strtoull(rest + 5, &end, 10);
    if (errno || *end || end == rest + 5 || n < 1 || rest[5] == '-')
        die_usage("--halt: fail=N needs a whole number of at least 1, got "
                  "'%s'",
                  rest + 5);
    *fails = n;
}

static unsigned long parse_count(const char *opt, const char *arg,
                                 unsigned long min, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(arg, &end, 10);
    if (errno || *end || end == arg || arg[0] == '-' || n < min || n > max)
        die_usage("%s: expected a whole number from %lu to %lu, got '%s'",
                  opt, min, max, arg);
    return n;
}

static double parse_seconds(const char *opt, const char *arg)
{
    char *end;
    errno = 0;
    double d = strtod(arg, &end);
    if (errno || *end || end == arg || !(d > 0) || d > 1e7)
        die_usage("%s: expected a number of seconds above 0 (decimals "
                  "allowed), got '%s'",
                  opt, arg);
    return d;
}

/* "512M", "2G", "100000": bytes, with binary K/M/G/T suffixes. */
static uint64_t parse_size(const char *opt, const char *arg)
{
    char *end;
    errno = 0;
    double d = strtod(arg, &end);
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (errno || *end || end == arg || !(d > 0) || d * mult < 1 << 20 ||
        d * mult > 1e18)
        die_usage("%s: expected a size of at least 1M such as 512M or 2G, "
                  "got '%s'",
                  opt, arg);
    return (uint64_t)(d * mult);
}

/* Options without a short form (records.c's). */
enum {
    OPT_RECORDS = 0x201,
    OPT_CHECKPOINT,
    OPT_JOBLOG,
    OPT_TRACE,
    OPT_MAX_LINE
};

/* Option opt (getopt_long's answer) into o: 0, or 1 for --help.  A bad
 * value ends the command (die_usage). */
static int parse_option(run_options *o, int opt, char **argv)
{
    switch (opt) {
    case 'j': {
        char *end;
        errno = 0;
        long n = strtol(optarg, &end, 10);
        if (errno || *end || end == optarg || n < 1 || n > 4096)
            die_usage("-j: expected a number of workers from 1 to "
                      "4096, got '%s'",
                      optarg);
        o->pool.workers = (unsigned)n;
        break;
    }
    case 's':
        o->sig = optarg;
        break;
    case 'u':
        o->job.flags |= DLP_JOB_UNORDERED;
        break;
    case 't':
        o->job.timeout = parse_seconds("--timeout", optarg);
        break;
    case 'r':
        o->job.retries =
            (unsigned)parse_count("--retries", optarg, 0, 1000000);
        break;
    case 'm':
        o->pool.max_tasks_per_worker = (unsigned)parse_count(
            "--max-tasks-per-worker", optarg, 1, 4000000000ul);
        break;
    case 'M':
        o->pool.memory_limit = parse_size("--memory-limit", optarg);
        break;
    case 'H':
        parse_halt(optarg, &o->halt_when, &o->halt_fails);
        break;
    case 'R': {
        char *slash = strchr(optarg, '/');
        if (!slash)
            die_usage("--restarts: expected R/T (restarts per seconds), "
                      "got '%s'",
                      optarg);
        *slash = 0;
        o->pool.restart_intensity =
            (unsigned)parse_count("--restarts", optarg, 1, 1000000);
        o->pool.restart_period = parse_seconds("--restarts", slash + 1);
        *slash = '/';
        break;
    }
    case 'P':
    case 'N':
        o->show_progress = opt == 'P';
        break;
    case OPT_RECORDS:
        o->records = 1;
        break;
    case OPT_CHECKPOINT:
        o->checkpoint = optarg;
        break;
    case OPT_JOBLOG:
        o->joblog = optarg;
        break;
    case OPT_TRACE:
        o->trace = optarg;
        break;
    case OPT_MAX_LINE:
        o->max_line = (size_t)parse_size("--max-line-length", optarg);
        break;
    case 'h':
        return 1;
    case ':':
        die_usage("run: option '%s' needs a value", argv[optind - 1]);
    default:
        die_usage("run: unknown option '%s'", argv[optind - 1]);
    }
    return 0;
}

int options_parse(run_options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"sig", required_argument, NULL, 's'},
        {"unordered", no_argument, NULL, 'u'},
        {"timeout", required_argument, NULL, 't'},
        {"retries", required_argument, NULL, 'r'},
        {"max-tasks-per-worker", required_argument, NULL, 'm'},
        {"memory-limit", required_argument, NULL, 'M'},
        {"halt", required_argument, NULL, 'H'},
        {"restarts", required_argument, NULL, 'R'},
        {"progress", no_argument, NULL, 'P'},
        {"no-progress", no_argument, NULL, 'N'},
        {"records", no_argument, NULL, OPT_RECORDS},
        {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
        {"joblog", required_argument, NULL, OPT_JOBLOG},
        {"trace", required_argument, NULL, OPT_TRACE},
        {"max-line-length", required_argument, NULL, OPT_MAX_LINE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    dlp_error err = {0, ""};
    int opt;

    memset(o, 0, sizeof *o);
    dlp_pool_options_init(&o->pool);
    dlp_job_options_init(&o->job);
    o->halt_when = HALT_NEVER;
    o->show_progress = -1;
    o->max_line = MAX_LINE_DEFAULT;
    optind = 1;
    opterr = 0; /* we say what was wrong, in our own words */
    while ((opt = getopt_long(argc, argv, "+:j:h", longopts, NULL)) != -1) {
        if (parse_option(o, opt, argv)) {
            usage(stdout);
            return stdout_written();
        }
    }
    if (optind >= argc)
        die_usage("run: missing PLUGIN:FUNCTION");
    o->ref = argv[optind++];
    if (sources_is_mark(o->ref))
        die_usage("run: missing PLUGIN:FUNCTION before '%s'", o->ref);
    if (optind < argc && !sources_is_mark(argv[optind]))
        o->path = argv[optind++];
    if (optind < argc && sources_is_mark(argv[optind]) && o->path)
        die_usage("run: both INPUT '%s' and '%s' arguments: give one or "
                  "the other",
                  o->path, argv[optind]);
    if (optind < argc && !sources_is_mark(argv[optind]))
        die_usage("run: unexpected argument '%s'", argv[optind]);
    if (!strchr(o->ref, ':'))
        die_usage("run: '%s' is not PLUGIN:FUNCTION", o->ref);
    if (o->sig) {
        dlp_sig parsed;
        if (dlp_sig_parse(o->sig, &parsed, &err)) {
            say2("--sig", err.msg);
            return EXIT_SETUP;
        }
    }
    o->sources = optind;
    return -1;
}
