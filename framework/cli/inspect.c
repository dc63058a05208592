/*
 * inspect.c - part of the dlpool command (framework/cli/main.c): `dlpool
 * inspect`.  See inspect.h.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dlpool.h"
#include "inspect.h"
#include "say.h"

static void print_fn(void *ud, const char *name, const char *sig)
{
    fprintf((FILE *)ud, "%s\t%s\n", name, sig);
}

/* --json: the functions as [{"name":..., "signature":...}, ...]. */
typedef struct fn_list {
    json_t *fns;
    int failed; /* out of memory: the list is short */
} fn_list;

static void json_fn(void *ud, const char *name, const char *sig)
{
    fn_list *l = ud;
    json_t *f = json_pack("{s:s, s:s}", "name", name, "signature", sig);
    if (!f || json_array_append_new(l->fns, f))
        l->failed = 1;
}

/* --json: the plugin's functions as one line of JSON.  The exit status. */
static int inspect_json(const char *plugin)
{
    dlp_error err = {0, ""};
    char *name = NULL;
    unsigned abi = 0;
    fn_list l = {NULL, 0};
    json_t *out;
    if (!(l.fns = json_array()))
        die_setup("out of memory");
    if (dlp_plugin_inspect(plugin, NULL, &name, &abi, json_fn, &l, &err)) {
        say(err.msg);
        json_decref(l.fns);
        return EXIT_SETUP;
    }
    out = l.failed ? NULL : json_object();
    if (!out) {
        json_decref(l.fns);
    } else if (json_object_set_new(out, "plugin", json_string(plugin)) |
               json_object_set_new(out, "name", json_string(name)) |
               json_object_set_new(out, "abi", json_integer(abi)) |
               json_object_set_new(out, "functions", l.fns)) {
        /* Each set was made (| evaluates them all), and each took its
         * value over, also when it failed. */
        json_decref(out);
        out = NULL;
    }
    free(name);
    if (!out || json_dumpf(out, stdout, JSON_COMPACT) ||
        putchar('\n') == EOF) {
        json_decref(out);
        fprintf(stderr, "%s: inspect: cannot write the JSON: %s\n", PROG,
                out ? strerror(errno) : "out of memory");
        return EXIT_SETUP;
    }
    json_decref(out);
    return stdout_written();
}

/* The plugin's functions as lines of text.  The exit status. */
static int inspect_text(const char *plugin)
{
    dlp_error err = {0, ""};
    char *name = NULL, *lines = NULL;
    size_t len = 0;
    unsigned abi = 0;
    FILE *mem;
    int rc;
    /* Collect the lines first, so a failure prints nothing on stdout. */
    if (!(mem = open_memstream(&lines, &len))) {
        say(strerror(errno));
        return EXIT_SETUP;
    }
    rc = dlp_plugin_inspect(plugin, NULL, &name, &abi, print_fn, mem, &err);
    fclose(mem);
    if (rc) {
        say(err.msg);
        free(lines);
        return EXIT_SETUP;
    }
    printf("# plugin %s, manifest ABI %u\n%s", name, abi, lines);
    free(name);
    free(lines);
    return stdout_written();
}

int inspect_command(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int opt, as_json = 0;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'J':
            as_json = 1;
            break;
        case 'h':
            usage(stdout);
            return stdout_written();
        default:
            die_usage("inspect: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        die_usage("inspect: expected one PLUGIN");
    return as_json ? inspect_json(argv[optind]) : inspect_text(argv[optind]);
}
