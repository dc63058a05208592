/* badinit - a plugin whose init hook fails, and one bad manifest entry. */
#include <dlpool/plugin.h>

static int init(void)
{
    return 7;
}

static int64_t never(int64_t v)
{
    return v;
}

DLP_PLUGIN_HOOKS("badinit", init, NULL, DLP_FN(never, "i64(i64)"));
