/* slowload - a plugin that takes long to load: its constructor sleeps 30
 * seconds, long enough for a test to signal the command meanwhile. */
#include <time.h>

#include <dlpool/plugin.h>

__attribute__((constructor)) static void slow(void)
{
    struct timespec ts = {30, 0};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int64_t same(int64_t v)
{
    return v;
}

DLP_PLUGIN("slowload", DLP_FN(same, "i64(i64)"));
