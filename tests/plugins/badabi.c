/* badabi - a manifest from a future dlpool: an ABI version this one cannot
 * read.  Written by hand, as DLP_PLUGIN() always writes the current one. */
#include <dlpool/plugin.h>

static int64_t never(int64_t v)
{
    return v;
}

static const dlp_fn_entry fns[] = {DLP_FN(never, "i64(i64)")};

DLP_PLUGIN_EXPORT const dlp_manifest dlp_plugin_manifest = {
    DLP_PLUGIN_ABI + 98, (uint32_t)sizeof(dlp_manifest), "badabi", 1, fns,
    NULL, NULL, NULL};
