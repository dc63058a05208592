/*
 * big - a plugin for the large-values benchmark: str(n) returns a new
 * string of n bytes of 'x'.  Allocating and filling it is cheap next to
 * carrying it back to the caller, so a run measures the transfer.
 */
#include <stdlib.h>
#include <string.h>

#include <dlpool/plugin.h>

static char *str(uint64_t n)
{
    char *s = malloc(n + 1);
    if (!s) {
        dlp_fail("out of memory for %llu bytes", (unsigned long long)n);
        return NULL;
    }
    memset(s, 'x', n);
    s[n] = '\0';
    return s;
}

DLP_PLUGIN("big",
    DLP_FN(str, "str!(u64)"));
