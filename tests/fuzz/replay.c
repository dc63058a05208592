/*
 * replay.c - runs a libFuzzer target's LLVMFuzzerTestOneInput over the
 * files of a directory, without libFuzzer: `make check` builds
 * fuzz_input.c and fuzz_options.c with it and replays their seed corpora,
 * so the targets' properties hold on every seed with any compiler, and
 * the sanitizer build checks them too.  A broken property aborts, as under libFuzzer.
 *
 *   replay DIR...     (default: FUZZ_CORPUS, set by the build)
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The options target is built with the command's main renamed by
 * -Dmain=dlpool_main, which would rename this one too. */
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Called first when the target has one, as libFuzzer does. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* One file, in a heap block of exactly its size. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data;
    long n;
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET)) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    if (!(data = malloc(n ? (size_t)n : 1)) ||
        fread(data, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "replay: reading %s: %s\n", path,
                data ? strerror(errno) : "out of memory");
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, (size_t)n);
    free(data);
    return 0;
}

static int replay_dir(const char *dir, unsigned *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d))) {
        char path[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (replay_file(path))
            rc = -1;
        else
            ++*count;
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned count = 0;
    int rc = 0;
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    if (argc < 2)
        rc = replay_dir(FUZZ_CORPUS, &count);
    for (int i = 1; i < argc; i++)
        if (replay_dir(argv[i], &count))
            rc = -1;
    if (rc == 0 && count == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        rc = -1;
    }
    printf("replay: %u inputs, %s\n", count, rc ? "not all read" : "all held");
    return rc ? 1 : 0;
}
