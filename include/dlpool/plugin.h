/*
 * dlpool/plugin.h - writing a dlpool task plugin.
 *
 * A plugin is a shared object that exports one manifest, built with
 * DLP_PLUGIN().  Workers dlopen() the plugin once, read the manifest, and
 * call its functions through libffi with arguments decoded from typed data.
 * The functions themselves may be static: the manifest holds their addresses.
 *
 *     #include <dlpool/plugin.h>
 *
 *     static int64_t add(int64_t a, int64_t b) { return a + b; }
 *
 *     DLP_PLUGIN("examples",
 *         DLP_FN(add, "i64(i64,i64)"));
 *
 * This header needs only the C standard library.  A plugin does not have to
 * link with libdlpool: the worker that loads it hands it a table of host
 * functions (dlp_fail() goes through it).
 */
#ifndef DLPOOL_PLUGIN_H
#define DLPOOL_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dlpool/val.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The manifest layout version.  Fields are only ever appended; a loader
 * checks abi and size before reading on.  Added in 0.1. */
#define DLP_PLUGIN_ABI 1

/* The name of the exported manifest symbol. */
#define DLP_MANIFEST_SYMBOL "dlp_plugin_manifest"

/* One function of a plugin: its name, its address and its signature in the
 * signature language (see README, "The signature language"). */
typedef struct dlp_fn_entry {
    const char *name;
    void (*fn)(void);
    const char *sig;
} dlp_fn_entry;

/* Functions the host offers a plugin.  Appended to only; check size. */
typedef struct dlp_host_api {
    size_t size;
    /* Make the running task's result an error with this message. */
    void (*vfail)(const char *fmt, va_list ap);
} dlp_host_api;

/* The manifest.  Built by DLP_PLUGIN(); never written by hand. */
typedef struct dlp_manifest {
    uint32_t abi;  /* DLP_PLUGIN_ABI at build time */
    uint32_t size; /* sizeof(dlp_manifest) at build time */
    const char *name;
    size_t nfns;
    const dlp_fn_entry *fns;
    /* Where the loader stores the host table before any call. */
    const dlp_host_api **host;
    /* Optional hooks, run in every worker: init once after loading (a
     * nonzero return is a set-up failure of the plugin, reported with the
     * plugin's path), fini once before a worker exits normally. */
    int (*init)(void);
    void (*fini)(void);
} dlp_manifest;

#if defined(__GNUC__)
#define DLP_PLUGIN_EXPORT __attribute__((visibility("default")))
#define DLP_PLUGIN_HIDDEN __attribute__((visibility("hidden")))
#define DLP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DLP_PLUGIN_EXPORT
#define DLP_PLUGIN_HIDDEN
#define DLP_PRINTF(f, a)
#endif

/* The host table of this plugin, defined by DLP_PLUGIN(). */
extern DLP_PLUGIN_HIDDEN const dlp_host_api *dlp_plugin_host_;

/*
 * dlp_fail - fail the running task with a message (printf format).
 *
 * Call it from inside a task function, then return any value: the return
 * value is ignored (and, for str!, not freed: free what you allocated, or
 * return NULL) and the task's result is an error carrying the message.
 * The worker is kept.  The message is cut at 1 KiB.  Added in 0.1.
 */
static inline DLP_PRINTF(1, 2) void dlp_fail(const char *fmt, ...)
{
    va_list ap;
    if (!dlp_plugin_host_)
        return; /* not loaded by dlpool: nothing to report to */
    va_start(ap, fmt);
    dlp_plugin_host_->vfail(fmt, ap);
    va_end(ap);
}

/* One manifest entry: DLP_FN(function, "signature"). */
#define DLP_FN(f, signature) { #f, (void (*)(void))(f), (signature) }

/* A manifest with init and fini hooks (either may be NULL). */
#define DLP_PLUGIN_HOOKS(plugin_name, init_fn, fini_fn, ...)                   \
    const dlp_host_api *dlp_plugin_host_;                                      \
    static const dlp_fn_entry dlp_plugin_fns_[] = {__VA_ARGS__};               \
    DLP_PLUGIN_EXPORT const dlp_manifest dlp_plugin_manifest = {              \
        DLP_PLUGIN_ABI,                                                        \
        (uint32_t)sizeof(dlp_manifest),                                        \
        (plugin_name),                                                         \
        sizeof(dlp_plugin_fns_) / sizeof(dlp_plugin_fns_[0]),                  \
        dlp_plugin_fns_,                                                       \
        &dlp_plugin_host_,                                                     \
        (init_fn),                                                             \
        (fini_fn)}

/* The manifest of a plugin: a name and its DLP_FN() entries. */
#define DLP_PLUGIN(plugin_name, ...)                                           \
    DLP_PLUGIN_HOOKS(plugin_name, NULL, NULL, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif /* DLPOOL_PLUGIN_H */
