/* hangctor - a plugin whose constructor never returns: whatever loads it
 * (a worker, the worker of `dlpool inspect`) hangs there until it is
 * killed.  Its own file, so that it hangs no other test plugin. */
#include <unistd.h>

#include <dlpool/plugin.h>

__attribute__((constructor)) static void hang(void)
{
    for (;;)
        pause();
}

static int64_t never(int64_t v)
{
    return v;
}

DLP_PLUGIN("hangctor", DLP_FN(never, "i64(i64)"));
