/*
 * loader.h - finding plugins (parent side) and loading them and
 * resolving their symbols (worker side); the call itself is invoke.h's.
 *
 * Named "loader" rather than "plugin" so that "plugin.h" always means the
 * public <dlpool/plugin.h>.
 */
#ifndef DLPOOL_FRAMEWORK_LOADER_H
#define DLPOOL_FRAMEWORK_LOADER_H

#include "dlpool/plugin.h"

#ifndef DLP_PLUGINDIR
#define DLP_PLUGINDIR "/usr/local/lib/dlpool/plugins"
#endif
#include "common.h"
#include "invoke.h"

/*
 * Parent side: turn a plugin name into what the worker passes to dlopen.
 * A name with '/' is used as it is; otherwise the directories of
 * plugin_path (colon-separated), then the installed plugin directory, are
 * searched for NAME and NAME.so; failing that the bare name goes to the
 * system's library search.  *out is new (free it).
 */
DLP_PRIV int dlp__plugin_find(const char *name, const char *plugin_path,
                              char **out, dlp_error *err);

/* The plugins a worker has loaded: each is dlopen()ed and initialised once
 * per worker.  Owned by the worker's loop. */
typedef struct dlp__loader {
    struct dlp__loaded *head;
} dlp__loader;

/* Worker side: load plugin (once per worker), then resolve symbol from
 * its manifest, or with dlsym and sig_text when the manifest has none.
 * On success fills fn; on failure err names plugin and symbol. */
DLP_PRIV int dlp__load_fn(dlp__loader *L, const char *plugin, const char *symbol,
                          const char *sig_text, dlp__fn *fn, dlp_error *err);

/* Worker side: load a plugin and return its manifest (NULL if it has
 * none, which is no error). */
DLP_PRIV int dlp__load_manifest(dlp__loader *L, const char *plugin,
                                const dlp_manifest **out, dlp_error *err);

/* Worker side: run every loaded plugin's fini hook. */
DLP_PRIV void dlp__unload_all(dlp__loader *L);

#endif
