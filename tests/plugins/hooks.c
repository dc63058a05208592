/* hooks - a plugin with init and fini hooks that leave marks: init sets a
 * value the tasks return, fini writes a file named by DLPOOL_TEST_FINI. */
#include <stdio.h>
#include <stdlib.h>

#include <dlpool/plugin.h>

static int64_t ready;

static int init(void)
{
    ready = 42;
    return 0;
}

static void fini(void)
{
    const char *path = getenv("DLPOOL_TEST_FINI");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "fini\n");
        fclose(f);
    }
}

static int64_t initialised(void)
{
    return ready;
}

DLP_PLUGIN_HOOKS("hooks", init, fini, DLP_FN(initialised, "i64()"));
