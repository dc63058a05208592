/* evil - a plugin that forges a reply on the worker's channel from its
 * init hook: a LOADED frame for function 0 carrying the positive "code" 5.
 * The pool must treat it as a corrupt frame, never as a function id.  The
 * channel is at descriptor 1023, or the highest below the soft
 * RLIMIT_NOFILE (framework/worker.h). */
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <dlpool/plugin.h>

#include "chanfd.h"

static int init(void)
{
    unsigned char f[16 + 7];
    uint32_t len = 7, a = 0, b = 5, slen = 3;
    uint16_t type = 2, flags = 0;
    memcpy(f, &len, 4);
    memcpy(f + 4, &type, 2);
    memcpy(f + 6, &flags, 2);
    memcpy(f + 8, &a, 4);
    memcpy(f + 12, &b, 4);
    memcpy(f + 16, &slen, 4);
    memcpy(f + 20, "bad", 3);
    if (write(test_channel_fd(), f, sizeof f) != (ssize_t)sizeof f)
        return 1;
    return 0;
}

static int64_t never(int64_t v)
{
    return v;
}

DLP_PLUGIN_HOOKS("evil", init, NULL, DLP_FN(never, "i64(i64)"));
