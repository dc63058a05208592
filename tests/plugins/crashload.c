/* crashload - a plugin whose constructor crashes the process loading it. */
#include <signal.h>

#include <dlpool/plugin.h>

__attribute__((constructor)) static void boom(void)
{
    raise(SIGSEGV);
}

static int64_t never(int64_t v)
{
    return v;
}

DLP_PLUGIN("crashload", DLP_FN(never, "i64(i64)"));
