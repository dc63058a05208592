/* badsig - a plugin whose manifest has a malformed signature. */
#include <dlpool/plugin.h>

static int64_t wrong(int64_t v)
{
    return v;
}

DLP_PLUGIN("badsig", DLP_FN(wrong, "i64(int)"));
